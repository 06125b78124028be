import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { EVENT_TYPES } from '../../../src/domain/events.ts';
import { evolve, initialState } from '../../../src/domain/jobDecider.ts';
import type { JobState } from '../../../src/domain/jobState.ts';
import type { EventStore } from '../../../src/infra/eventstore/eventStore.ts';
import { jobStreamName } from '../../../src/infra/eventstore/eventStore.ts';
import { toJobEvent } from '../../../src/infra/eventstore/jobEvents.ts';
import { openLmdbEventStore } from '../../../src/infra/eventstore/lmdb/index.ts';
import { createProjections, ReadModelStore } from '../../../src/projections/index.ts';
import {
  PROJECTION_NAMES,
  rebuildProjections,
} from '../../../src/projections/maintenance/rebuildProjections.ts';
import type { FixtureCommand } from '../../fixtures/eventLog/fixtureCommands.ts';
import type { FixtureRecord } from '../../fixtures/eventLog/fixtureLog.ts';
import { loadFixtureRecords, readJsonl, runFixtureCommands } from '../../fixtures/eventLog/fixtureLog.ts';
import { allJobEvents } from '../../helpers/jobTraffic.ts';
import { generationRows, readTree } from '../../helpers/projectionHarness.ts';

/*
 * A log stored by older code (test/fixtures/eventLog/<name>-log.jsonl; v1 was committed before job_resumed
 * became version 2) must read, fold and project exactly as the same commands run on today's code. Every
 * fixture in the directory is replayed. See docs/decisions/0013-event-versions-and-upcasting.md.
 */

const FIXTURES = new URL('../../fixtures/eventLog/', import.meta.url);
const FIXTURE_NAMES = (await readdir(FIXTURES))
  .map((file) => /^(v\d+)-log\.jsonl$/.exec(file)?.[1])
  .filter((name): name is string => name !== undefined)
  .sort();
const fixtureRecords = (name: string) => readJsonl<FixtureRecord>(new URL(`${name}-log.jsonl`, FIXTURES));
const fixtureCommands = (name: string) =>
  readJsonl<FixtureCommand>(new URL(`${name}-commands.jsonl`, FIXTURES));

interface World {
  store: EventStore;
  dataDir: string;
  runsDir: string;
}

async function world(t: import('ava').ExecutionContext, name: string): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), `operator-replay-${name}-`));
  const store = await openLmdbEventStore({ path: join(dir, 'store') });
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { store, dataDir: join(dir, 'data'), runsDir: join(dir, 'runs') };
}

/** A fixture appended as stored, and the fixture's commands run fresh on today's code. */
async function worlds(
  t: import('ava').ExecutionContext,
  name: string,
): Promise<{
  replayed: World;
  fresh: World;
  freshStates: Map<string, JobState>;
}> {
  const replayed = await world(t, name);
  await loadFixtureRecords(replayed.store, await fixtureRecords(name));
  const fresh = await world(t, 'fresh');
  const freshStates = await runFixtureCommands(fresh.store, await fixtureCommands(name));
  return { replayed, fresh, freshStates };
}

async function foldStream(store: EventStore, jobId: string): Promise<JobState> {
  let state = initialState();
  for await (const recorded of store.readStream(jobStreamName(jobId)))
    state = evolve(state, toJobEvent(recorded));
  return state;
}

interface Snapshot {
  files: Map<string, string>;
  rows: Record<string, string[]>;
}

async function readModelRows(dataDir: string): Promise<Record<string, string[]>> {
  const rms = ReadModelStore.open(dataDir);
  try {
    return generationRows(rms.tables());
  } finally {
    await rms.close();
  }
}

/** The live projections run to the store's head, then `operator projections rebuild --all` over them. */
async function project(w: World): Promise<{ live: Snapshot; rebuilt: Snapshot }> {
  const projections = createProjections({ store: w.store, dataDir: w.dataDir, runsDir: w.runsDir });
  const head = (await w.store.headPosition()) as string;
  await projections.runner.start();
  const reached = await projections.runner.waitForPosition(head, 10_000);
  await projections.close();
  if (!reached) throw new Error(`projections did not reach ${head}`);
  const live = { files: await readTree(w.runsDir), rows: await readModelRows(w.dataDir) };
  await rebuildProjections({ ...w, names: PROJECTION_NAMES, handoverTimeoutMs: 5_000 });
  const rebuilt = { files: await readTree(w.runsDir), rows: await readModelRows(w.dataDir) };
  return { live, rebuilt };
}

test('the v1 fixture is the old shape: every event type, a rerun stored as version 1 with `rerun`', async (t) => {
  const records = await fixtureRecords('v1');
  t.deepEqual([...new Set(records.map((r) => r.type))].sort(), [...EVENT_TYPES].sort());
  t.true(records.every((r) => r.metadata['schema_version'] === 1));
  const reruns = records.filter((r) => r.type === 'job_resumed' && 'rerun' in (r.data['payload'] as object));
  t.deepEqual(
    reruns.map((r) => r.data['payload']),
    [{ after_gate: 'review', rerun: 'review' }],
  );
});

for (const name of FIXTURE_NAMES) {
  test(`${name}: the log reads as the same events and folds to the same job states as a fresh run of its commands`, async (t) => {
    const { replayed, fresh, freshStates } = await worlds(t, name);
    const [old, now] = [await allJobEvents(replayed.store), await allJobEvents(fresh.store)];
    t.is(old.length, (await fixtureRecords(name)).length);
    t.deepEqual(old, now);
    t.true(freshStates.size > 0);
    for (const [jobId, expected] of freshStates) {
      t.deepEqual(await foldStream(replayed.store, jobId), expected, jobId);
      t.deepEqual(await foldStream(fresh.store, jobId), expected, `${jobId} (fresh store)`);
    }
  });

  test(`${name}: the log projects, live and rebuilt, to the same files and read model rows as a fresh run`, async (t) => {
    t.timeout(120_000);
    const { replayed, fresh, freshStates } = await worlds(t, name);
    const old = await project(replayed);
    const now = await project(fresh);
    for (const [when, a, b] of [
      ['live', old.live, now.live],
      ['rebuilt', old.rebuilt, now.rebuilt],
      ['rebuilt against live', old.rebuilt, old.live],
    ] as const) {
      t.deepEqual([...a.files.keys()], [...b.files.keys()], `${when}: the same files`);
      for (const [path, text] of b.files) t.is(a.files.get(path), text, `${when}: ${path}`);
      t.deepEqual(Object.keys(a.rows), Object.keys(b.rows), `${when}: the same tables`);
      for (const [table, rows] of Object.entries(b.rows))
        t.deepEqual(a.rows[table], rows, `${when}: ${table}`);
    }
    const files = [...old.rebuilt.files.keys()];
    for (const jobId of freshStates.keys())
      for (const file of ['events.jsonl', 'state.json'])
        t.true(files.includes(`${jobId}/${file}`), `${jobId}/${file}`);
    t.is(old.rebuilt.rows['jobs']?.length, freshStates.size);
  });
}

test('v1: the rerun reads, folds and projects in the version-2 shape', async (t) => {
  const { replayed } = await worlds(t, 'v1');
  const rerun = (await allJobEvents(replayed.store)).find(
    (e) =>
      e.type === 'job_resumed' &&
      e.payload['after_gate'] !== undefined &&
      e.payload['from_stage'] !== undefined,
  );
  t.deepEqual(rerun?.payload, { after_gate: 'review', from_stage: 'review' });
  // the rejection sent review back: its attempts restarted, and its gate paused again and was approved
  const state = await foldStream(replayed.store, 'fx-rerun');
  t.like(
    state.stages.find((s) => s.name === 'review'),
    { status: 'completed', attempts: 1 },
  );
  t.like(state.gates['review'], { status: 'approved', comment: 'fine now' });
  const { rebuilt } = await project(replayed);
  t.truthy(rebuilt.files.get('fx-rerun/gates/review.json'));
  const wire = rebuilt.files.get('fx-rerun/events.jsonl') ?? '';
  t.regex(wire, /"after_gate":"review","from_stage":"review"/);
  t.notRegex(wire, /"rerun":/);
});
