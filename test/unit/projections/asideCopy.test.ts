import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { JobEvent } from '../../../src/domain/events.ts';
import type { EventStore } from '../../../src/infra/eventstore/eventStore.ts';
import {
  expectedJobFiles,
  JsonlProjection,
  ReadModelStore,
  StateProjection,
} from '../../../src/projections/index.ts';
import { allJobEvents } from '../../helpers/jobTraffic.ts';
import { harness, readTree } from '../../helpers/projectionHarness.ts';

/**
 * A rebuild's aside copy (`sync: false`) writes a job whose first event is in the batch with new files in
 * place (no probes, no temp file): the same bytes as the live projections, whatever the batching, and
 * nothing written through what a stage may have put in the copy meanwhile.
 */

async function asideProjections(
  t: { teardown(fn: () => Promise<void>): void },
  store: EventStore,
  runsDir: string,
  only?: 'state',
) {
  const dir = await mkdtemp(join(tmpdir(), 'operator-aside-rm-'));
  const readModel = ReadModelStore.open(dir);
  t.teardown(async () => {
    await readModel.close();
    await rm(dir, { recursive: true, force: true });
  });
  const common = { runsDir, checkpoints: readModel.checkpoints, store, sync: false };
  return [
    ...(only === 'state' ? [] : [new JsonlProjection({ ...common, name: 'aside:jsonl' })]),
    new StateProjection({ ...common, name: 'aside:state' }),
  ];
}

async function applyInBatches(
  projections: readonly { apply(batch: readonly JobEvent[]): Promise<void> }[],
  events: readonly JobEvent[],
  size: number,
): Promise<void> {
  for (let i = 0; i < events.length; i += size)
    for (const projection of projections) await projection.apply(events.slice(i, i + size));
}

test("the aside copy writes the live projections' bytes, whatever the batching, and leaves no temp file", async (t) => {
  const live = await harness({ batchSize: 5 });
  t.teardown(live.cleanup);
  await live.traffic.runMany({ jobs: 24, concurrency: 6 });
  await live.settle();
  const expected = await readTree(live.runsDir);
  const events = await allJobEvents(live.store);
  t.true(expected.size > 24 * 2);
  // Batches of 7 split jobs across batches (their later events take the usual path); 1,000 takes each whole.
  for (const size of [7, 1000]) {
    const runsDir = join(live.dir, `aside-${size}`);
    await mkdir(runsDir);
    await applyInBatches(await asideProjections(t, live.store, runsDir), events, size);
    const tree = await readTree(runsDir);
    t.deepEqual([...tree.keys()].sort(), [...expected.keys()].sort(), `batches of ${size}: same files`);
    t.deepEqual(tree, expected, `batches of ${size}: same bytes`);
  }
});

test("the aside copy never writes through links put in a new job's place; the files come out whole in real directories", async (t) => {
  const outside = await mkdtemp(join(tmpdir(), 'operator-aside-outside-'));
  t.teardown(() => rm(outside, { recursive: true, force: true }));
  const victim = join(outside, 'victim.txt');
  await writeFile(victim, 'untouched\n');
  await mkdir(join(outside, 'dir'));
  const live = await harness();
  t.teardown(live.cleanup);
  for (const jobId of ['linkdir', 'linkfiles', 'statelink']) await live.traffic.runPlan(jobId, 'completed');
  await live.traffic.runPlan('gatelink', 'paused');
  const events = await allJobEvents(live.store);
  const runsDir = join(live.dir, 'aside');
  await mkdir(runsDir);
  // The whole run dir a link to a directory elsewhere.
  await symlink(join(outside, 'dir'), join(runsDir, 'linkdir'));
  // A real run dir whose files and gates/ are links.
  await mkdir(join(runsDir, 'linkfiles'));
  await symlink(victim, join(runsDir, 'linkfiles', 'events.jsonl'));
  await symlink(victim, join(runsDir, 'linkfiles', 'state.json'));
  await mkdir(join(runsDir, 'gatelink'));
  await symlink(join(outside, 'dir'), join(runsDir, 'gatelink', 'gates'));
  await symlink(victim, join(runsDir, 'gatelink', 'state.json'));
  await applyInBatches(await asideProjections(t, live.store, runsDir), events, 1000);
  // The state projection alone (as `rebuild state`): the run dir it meets first is the link.
  const stateOnly = join(live.dir, 'aside-state');
  await mkdir(stateOnly);
  await symlink(join(outside, 'dir'), join(stateOnly, 'statelink'));
  await applyInBatches(await asideProjections(t, live.store, stateOnly, 'state'), events, 1000);

  t.is(await readFile(victim, 'utf8'), 'untouched\n');
  t.deepEqual(await readdir(join(outside, 'dir')), []);
  for (const jobId of ['linkdir', 'linkfiles', 'gatelink']) {
    const files = expectedJobFiles(
      jobId,
      events.filter((e) => e.job_id === jobId),
    );
    t.is(await readFile(join(runsDir, jobId, 'events.jsonl'), 'utf8'), files.jsonl, `${jobId}: events.jsonl`);
    t.is(
      await readFile(join(runsDir, jobId, 'state.json'), 'utf8'),
      files.state as string,
      `${jobId}: state.json`,
    );
    for (const [gate, bytes] of Object.entries(files.gates))
      t.is(await readFile(join(runsDir, jobId, 'gates', `${gate}.json`), 'utf8'), bytes, `${jobId}: ${gate}`);
  }
  const statelink = expectedJobFiles(
    'statelink',
    events.filter((e) => e.job_id === 'statelink'),
  );
  t.is(await readFile(join(stateOnly, 'statelink', 'state.json'), 'utf8'), statelink.state as string);
});
