// Child process for the projections' kill/restart test: runs the projection runner over an LMDB event store
// until it has applied the store's head, printing `applied <position>` after every batch and `done <position>`
// at the end. Usage: node --import tsx projectionWorker.ts <store path> <data dir> <runs dir> [batch size]
import { openLmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';
import { createProjections } from '../../src/projections/index.ts';

const [storePath, dataDir, runsDir, batchArg] = process.argv.slice(2);
if (!storePath || !dataDir || !runsDir)
  throw new Error('usage: projectionWorker.ts <store path> <data dir> <runs dir> [batch size]');
const store = await openLmdbEventStore({ path: storePath });
const head = await store.headPosition();
const projections = createProjections({ store, dataDir, runsDir, batchSize: Number(batchArg ?? 500) });
projections.runner.onApplied((position) => process.stdout.write(`applied ${position}\n`));
process.stdout.write(`started ${String(await projections.runner.checkpoint())}\n`);
await projections.runner.start();
if (head !== null && !(await projections.runner.waitForPosition(head, 120_000)))
  throw new Error(`head ${head} not reached: ${JSON.stringify(projections.runner.status())}`);
await projections.close();
await store.close();
process.stdout.write(`done ${String(head)}\n`);
