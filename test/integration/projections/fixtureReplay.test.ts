import { mkdtemp, rm } from 'node:fs/promises';
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
import type { GenerationTables } from '../../../src/projections/index.ts';
import { createProjections, ReadModelStore } from '../../../src/projections/index.ts';
import {
  PROJECTION_NAMES,
  rebuildProjections,
} from '../../../src/projections/maintenance/rebuildProjections.ts';
import type { FixtureCommand } from '../../fixtures/eventLog/fixtureCommands.ts';
import type { FixtureRecord } from '../../fixtures/eventLog/fixtureLog.ts';
import { loadFixtureRecords, readJsonl, runFixtureCommands } from '../../fixtures/eventLog/fixtureLog.ts';
import { allJobEvents } from '../../helpers/jobTraffic.ts';
import { readTree } from '../../helpers/projectionHarness.ts';

/*
 * A log stored by version-1 code (test/fixtures/eventLog/v1-log.jsonl, committed before job_resumed became
 * version 2) must read, fold and project exactly as the same commands run on today's code. See
 * docs/decisions/0013-event-versions-and-upcasting.md.
 */

const FIXTURES = new URL('../../fixtures/eventLog/', import.meta.url);
const v1Records = () => readJsonl<FixtureRecord>(new URL('v1-log.jsonl', FIXTURES));
const v1Commands = () => readJsonl<FixtureCommand>(new URL('v1-commands.jsonl', FIXTURES));

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

/** The v1 fixture appended as stored, and the fixture's commands run fresh on today's code. */
async function worlds(t: import('ava').ExecutionContext): Promise<{
  replayed: World;
  fresh: World;
  freshStates: Map<string, JobState>;
}> {
  const replayed = await world(t, 'v1');
  await loadFixtureRecords(replayed.store, await v1Records());
  const fresh = await world(t, 'fresh');
  const freshStates = await runFixtureCommands(fresh.store, await v1Commands());
  return { replayed, fresh, freshStates };
}

async function foldStream(store: EventStore, jobId: string): Promise<JobState> {
  let state = initialState();
  for await (const recorded of store.readStream(jobStreamName(jobId)))
    state = evolve(state, toJobEvent(recorded));
  return state;
}

function tableRows(tables: GenerationTables): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, db] of Object.entries(tables)) {
    if (name === 'generation') continue;
    const rows: string[] = [];
    for (const { key, value } of (db as GenerationTables['events']).getRange({}))
      rows.push(JSON.stringify([key, value]));
    out[name] = rows;
  }
  return out;
}

interface Snapshot {
  files: Map<string, string>;
  rows: Record<string, string[]>;
}

async function readModelRows(dataDir: string): Promise<Record<string, string[]>> {
  const rms = ReadModelStore.open(dataDir);
  try {
    return tableRows(rms.tables());
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
  const records = await v1Records();
  t.deepEqual([...new Set(records.map((r) => r.type))].sort(), [...EVENT_TYPES].sort());
  t.true(records.every((r) => r.metadata['schema_version'] === 1));
  const reruns = records.filter((r) => r.type === 'job_resumed' && 'rerun' in (r.data['payload'] as object));
  t.deepEqual(
    reruns.map((r) => r.data['payload']),
    [{ after_gate: 'review', rerun: 'review' }],
  );
});

test('a v1 log reads as the same events and folds to the same job states as a fresh run of its commands', async (t) => {
  const { replayed, fresh, freshStates } = await worlds(t);
  const [old, now] = [await allJobEvents(replayed.store), await allJobEvents(fresh.store)];
  t.is(old.length, (await v1Records()).length);
  t.deepEqual(old, now);
  const rerun = old.find(
    (e) => e.type === 'job_resumed' && e.payload['after_gate'] && e.payload['from_stage'],
  );
  t.deepEqual(rerun?.payload, { after_gate: 'review', from_stage: 'review' });

  t.is(freshStates.size, 5);
  for (const [jobId, expected] of freshStates) {
    t.deepEqual(await foldStream(replayed.store, jobId), expected, jobId);
    t.deepEqual(await foldStream(fresh.store, jobId), expected, `${jobId} (fresh store)`);
  }
  // the rerun sent review back: it ran twice, its gate paused twice and was approved the second time
  const rerunJob = freshStates.get('fx-rerun');
  t.like(
    rerunJob?.stages.find((s) => s.name === 'review'),
    { status: 'completed', attempts: 1 },
  );
  t.like(rerunJob?.gates['review'], { status: 'approved', comment: 'fine now' });
});

test('a v1 log projects, live and rebuilt, to the same files and read model rows as a fresh run', async (t) => {
  t.timeout(120_000);
  const { replayed, fresh } = await worlds(t);
  const old = await project(replayed);
  const now = await project(fresh);

  for (const [when, a, b] of [
    ['live', old.live, now.live],
    ['rebuilt', old.rebuilt, now.rebuilt],
    ['v1 rebuilt against v1 live', old.rebuilt, old.live],
  ] as const) {
    t.deepEqual([...a.files.keys()], [...b.files.keys()], `${when}: the same files`);
    for (const [path, text] of b.files) t.is(a.files.get(path), text, `${when}: ${path}`);
    t.deepEqual(Object.keys(a.rows), Object.keys(b.rows), `${when}: the same tables`);
    for (const [table, rows] of Object.entries(b.rows)) t.deepEqual(a.rows[table], rows, `${when}: ${table}`);
  }

  const files = [...old.rebuilt.files.keys()];
  for (const jobId of ['fx-rerun', 'fx-timer', 'fx-reject', 'fx-cancel', 'fx-queued'])
    for (const file of ['events.jsonl', 'state.json'])
      t.true(files.includes(`${jobId}/${file}`), `${jobId}/${file}`);
  t.true(files.includes('fx-rerun/gates/review.json'));
  t.true(files.includes('fx-reject/gates/check.json'));
  t.true((old.rebuilt.rows['jobs']?.length ?? 0) === 5);
  // the wire shows the new shape only
  const wire = old.rebuilt.files.get('fx-rerun/events.jsonl') ?? '';
  t.regex(wire, /"after_gate":"review","from_stage":"review"/);
  t.notRegex(wire, /"rerun":/);
});
