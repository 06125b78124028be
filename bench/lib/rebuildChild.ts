// Rebuild of every projection from an existing store, in its own process: raw readAll of the whole log
// first (the baseline), then createProjections into fresh directories, timed until the runner is caught up.
// Run: node --import tsx bench/lib/rebuildChild.ts --store <dir> --out <dir>
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openLmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';
import { createProjections } from '../../src/projections/index.ts';
import { emit } from './rpc.ts';

const { values } = parseArgs({ options: { store: { type: 'string' }, out: { type: 'string' } } });
if (!values.store || !values.out) throw new Error('--store and --out are required');
const store = await openLmdbEventStore({ path: values.store });

let t0 = performance.now();
let events = 0;
for await (const _ of store.readAll()) events++;
const readAllMs = performance.now() - t0;

const projections = createProjections({
  store,
  dataDir: join(values.out, 'data'),
  runsDir: join(values.out, 'runs'),
});
t0 = performance.now();
const caughtUp = new Promise<void>((resolve) => projections.runner.once('caught_up', () => resolve()));
void projections.runner.start();
await caughtUp;
const rebuildMs = performance.now() - t0;
const applied = projections.runner.appliedPosition;
await projections.close();
await store.close();
emit('result', { events, readAllMs, rebuildMs, applied, peakRssKiB: process.resourceUsage().maxRSS });
