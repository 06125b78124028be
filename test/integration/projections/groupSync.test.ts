import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import type { JobEvent } from '../../../src/domain/events.ts';
import type { FileSyncs } from '../../../src/infra/files/durableFiles.ts';
import { expectedJobFiles, LIVE_FILE_SYNC_MS, ReadModelStore } from '../../../src/projections/index.ts';
import { JsonlProjection } from '../../../src/projections/jsonlProjection.ts';
import type { PerJobFileProjectionOptions } from '../../../src/projections/perJobFileProjection.ts';
import { StateProjection } from '../../../src/projections/stateProjection.ts';
import { allJobEvents, JobTraffic } from '../../helpers/jobTraffic.ts';
import { MemoryEventStore } from '../../helpers/memoryEventStore.ts';
import { harness } from '../../helpers/projectionHarness.ts';

interface Setup {
  store: MemoryEventStore;
  runsDir: string;
  readModel: ReadModelStore;
  options(syncEveryMs: number): PerJobFileProjectionOptions;
}

async function setup(t: ExecutionContext): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'operator-group-sync-'));
  const store = new MemoryEventStore();
  const readModel = ReadModelStore.open(join(dir, 'data'));
  t.teardown(async () => {
    await readModel.close();
    await rm(dir, { recursive: true, force: true });
  });
  const runsDir = join(dir, 'runs');
  return {
    store,
    runsDir,
    readModel,
    options: (syncEveryMs) => ({ runsDir, checkpoints: readModel.checkpoints, store, syncEveryMs }),
  };
}

/** One job through its gate (approved) and to the end: its events. */
async function gatedJob(store: MemoryEventStore, jobId: string): Promise<JobEvent[]> {
  await new JobTraffic(store).runPlan(jobId, 'completed');
  return allJobEvents(store);
}

const lastOf = (events: JobEvent[]): string => (events.at(-1) as JobEvent).position;

const split = (events: JobEvent[], at: (e: JobEvent) => boolean): [JobEvent[], JobEvent[]] => {
  const i = events.findIndex(at);
  return [events.slice(0, i), events.slice(i)];
};

test('group sync: files are written at once, the stored checkpoint moves only at a flush, and a flush that fails leaves it behind', async (t) => {
  const { store, runsDir, readModel, options } = await setup(t);
  const events = await gatedJob(store, 'g1');
  const [first, rest] = split(events, (e) => e.type === 'gate_pause');
  const jsonl = new JsonlProjection(options(60_000));
  t.teardown(() => jsonl.close());

  // The first batch flushes at once (no flush yet in this interval); the next waits for the interval.
  await jsonl.apply(first);
  t.is(readModel.checkpoints.get('jsonl'), lastOf(first));
  await jsonl.apply(rest);
  t.is(
    await readFile(join(runsDir, 'g1', 'events.jsonl'), 'utf8'),
    expectedJobFiles('g1', events).jsonl,
    'the file holds every line before any flush',
  );
  t.is(readModel.checkpoints.get('jsonl'), lastOf(first), 'stored checkpoint still behind');
  t.is(await jsonl.checkpoint(), lastOf(events), 'what is applied, in this process');

  // A flush whose fsyncs fail stores nothing, and the next one tries the same files again.
  const syncs = (jsonl as unknown as { syncs: FileSyncs }).syncs;
  t.is(syncs.mode, 'group');
  const flushFiles = syncs.flush.bind(syncs);
  syncs.flush = async () => {
    throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
  };
  await t.throwsAsync(jsonl.sync(), { message: /EIO/ });
  t.is(readModel.checkpoints.get('jsonl'), lastOf(first));
  let flushed = 0;
  syncs.flush = async () => {
    flushed++;
    await flushFiles();
  };
  await jsonl.sync();
  t.is(flushed, 1);
  t.is(readModel.checkpoints.get('jsonl'), lastOf(events));
});

test('group sync: a state.json ahead of the stored checkpoint is not trusted after a crash: the job is folded from the store and its gate file rewritten', async (t) => {
  const { store, runsDir, readModel, options } = await setup(t);
  const events = await gatedJob(store, 'g2');
  const [beforeApproval, fromApproval] = split(events, (e) => e.type === 'gate_approved');
  const crashed = new StateProjection(options(60_000));
  await crashed.apply(beforeApproval);
  await crashed.apply(fromApproval);
  const stored = readModel.checkpoints.get('state');
  t.is(stored, lastOf(beforeApproval), 'the approval was applied but not flushed');
  const gateFile = join(runsDir, 'g2', 'gates', 'storyboard.json');
  const expected = expectedJobFiles('g2', events);
  const approved = expected.gates.storyboard as string;
  t.regex(approved, /approved/);
  t.is(await readFile(gateFile, 'utf8'), approved);

  // A power loss inside the window: state.json reached the disk, the gate file's approval did not.
  const pausedGate = expectedJobFiles('g2', beforeApproval).gates.storyboard;
  t.truthy(pausedGate);
  await writeFile(gateFile, pausedGate as string);

  // The restart replays from the stored checkpoint.
  const restarted = new StateProjection(options(60_000));
  t.teardown(() => restarted.close());
  await restarted.apply(fromApproval);
  t.is(await readFile(gateFile, 'utf8'), approved, 'the gate file says approved again');
  t.is(await readFile(join(runsDir, 'g2', 'state.json'), 'utf8'), expected.state as string);
});

test('the live projections sync in groups, and stopping the runner stores every checkpoint (a rebuild can take over)', async (t) => {
  t.true(LIVE_FILE_SYNC_MS > 0, 'the server groups its file syncs');
  // A long interval, so that what the runner applied after the first batch is certainly not synced yet.
  const h = await harness({ fileSyncEveryMs: 60_000 });
  t.teardown(() => h.cleanup());
  await h.traffic.runMany({ jobs: 20, concurrency: 4, seed: 3 });
  await h.settle(); // the first batch: synced at once
  await h.traffic.runPlan('late', 'completed');
  await h.settle(); // later batches: synced at the interval
  const head = await h.store.headPosition();
  const stored = h.projections.readModelStore.checkpoints;
  t.not(stored.get('jsonl'), head);
  t.not(stored.get('state'), head);
  await h.projections.runner.stop();
  t.is(stored.get('jsonl'), head);
  t.is(stored.get('state'), head);
});
