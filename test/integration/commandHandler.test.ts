import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { JobEvent } from '../../src/domain/events.ts';
import { isWrongExpectedRevisionError, jobStreamName } from '../../src/infra/eventstore/eventStore.ts';
import { JobCommandHandler } from '../../src/infra/eventstore/jobCommandHandler.ts';
import type { LmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';
import { openLmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';
import { samplePipeline } from '../helpers/decider.ts';

const ts = () => new Date().toISOString();

async function setup(t: { teardown(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'operator-commands-'));
  const store = await openLmdbEventStore({ path: join(dir, 'store') });
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return store;
}

async function created(store: LmdbEventStore, handler: JobCommandHandler, jobId: string) {
  await handler.handle(jobId, {
    type: 'create_job',
    job_id: jobId,
    pipeline: samplePipeline,
    params: {},
    actor: 'alice',
    ts: ts(),
  });
  return store;
}

test('a command is read, folded, decided and appended with the revision read; appended events are reported once each', async (t) => {
  const store = await setup(t);
  const seen: JobEvent[] = [];
  const handler = new JobCommandHandler(store, { maxEventsPerJob: 1000, onAppended: (e) => seen.push(e) });
  await created(store, handler, 'job-a');
  const result = await handler.handle('job-a', { type: 'start_job', actor: 'alice', ts: ts() });
  t.deepEqual(
    result.events.map((e) => [e.type, e.seq, e.job_id]),
    [['job_started', 1, 'job-a']],
  );
  t.is(result.state.status, 'running');
  t.is(result.state.seq, 1);
  t.deepEqual(
    seen.map((e) => e.seq),
    [0, 1],
  );
  const stored = [];
  for await (const e of store.readStream(jobStreamName('job-a'))) stored.push(e);
  t.deepEqual(
    stored.map((e) => e.id),
    seen.map((e) => e.id),
  );
  t.deepEqual(
    stored.map((e) => e.position),
    seen.map((e) => e.position),
  );
});

test('multi-event decisions come back with their own seq and position', async (t) => {
  const store = await setup(t);
  const handler = new JobCommandHandler(store, { maxEventsPerJob: 1000 });
  await created(store, handler, 'job-b');
  await handler.handle('job-b', { type: 'start_job', actor: 'a', ts: ts() });
  await handler.handle('job-b', { type: 'start_stage', stage: 'script', actor: 'a', ts: ts() });
  const fail = await handler.handle('job-b', { type: 'fail_job', reason: 'stop', actor: 'a', ts: ts() });
  t.true(fail.events.length >= 1);
  const positions = fail.events.map((e) => BigInt(e.position));
  t.deepEqual(
    [...positions].sort((x, y) => (x < y ? -1 : 1)),
    positions,
  );
  t.deepEqual(
    fail.events.map((e) => e.seq),
    fail.events.map((_e, i) => 3 + i),
  );
});

test('concurrent commands on one job: conflicts are re-decided on fresh state, so every valid one lands once', async (t) => {
  const store = await setup(t);
  const handler = new JobCommandHandler(store, { maxEventsPerJob: 1000, maxRetries: 20 });
  await created(store, handler, 'job-c');
  // 20 concurrent cancels: one wins, the others are re-decided on the canceled job and refused.
  const results = await Promise.allSettled(
    Array.from({ length: 20 }, () => handler.handle('job-c', { type: 'cancel_job', actor: 'a', ts: ts() })),
  );
  t.is(results.filter((r) => r.status === 'fulfilled').length, 1);
  for (const r of results) {
    if (r.status === 'rejected') t.is((r.reason as { code: string }).code, 'job_terminal');
  }
});

test('with an explicit expected seq there is no retry: a stale seq is a conflict at once', async (t) => {
  const store = await setup(t);
  const handler = new JobCommandHandler(store, { maxEventsPerJob: 1000 });
  await created(store, handler, 'job-d');
  const error = await t.throwsAsync(
    handler.handle('job-d', { type: 'start_job', actor: 'a', ts: ts() }, { expectedSeq: 4 }),
  );
  t.is((error as { code?: string }).code, 'stale_seq');
  t.is((error as { kind?: string }).kind, 'conflict');
  const ok = await handler.handle('job-d', { type: 'start_job', actor: 'a', ts: ts() }, { expectedSeq: 0 });
  t.is(ok.state.status, 'running');
});

test('retries are bounded: a store that always conflicts surfaces the conflict', async (t) => {
  const store = await setup(t);
  const handler = new JobCommandHandler(store, { maxEventsPerJob: 1000, maxRetries: 2 });
  await created(store, handler, 'job-e');
  let appends = 0;
  const conflicting = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'append') {
        return async (...args: Parameters<LmdbEventStore['append']>) => {
          appends++;
          // Someone else writes first, every time.
          await target.append(jobStreamName('job-e'), [
            {
              id: crypto.randomUUID(),
              type: 'job_started',
              data: { ts: ts(), stage: null, status: 'running', message: 'x', payload: {}, actor: 'other' },
            },
          ]);
          return target.append(...args);
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const racing = new JobCommandHandler(conflicting, { maxEventsPerJob: 1000, maxRetries: 2 });
  const error = await t.throwsAsync(
    racing.handle('job-e', { type: 'fail_job', reason: 'x', actor: 'a', ts: ts() }),
  );
  t.true(isWrongExpectedRevisionError(error));
  t.is(appends, 3);
});

test('a handler deciding on its cached state never answers from a stale cache: another writer`s events are read before a conflict, a refusal or a no-op stands', async (t) => {
  const store = await setup(t);
  const appends: number[] = [];
  const original = store.append.bind(store);
  store.append = (async (...args: Parameters<typeof store.append>) => {
    appends.push(1);
    return original(...args);
  }) as typeof store.append;
  const mine = new JobCommandHandler(store, { maxEventsPerJob: 1000 });
  const other = new JobCommandHandler(store, { maxEventsPerJob: 1000 });
  await created(store, mine, 'job-s');
  await mine.handle('job-s', { type: 'start_job', actor: 'alice', ts: ts() });
  // The other writer (a second process on the same store) moves the job on; `mine` still caches seq 1.
  await other.handle('job-s', { type: 'start_stage', stage: 'script', actor: 'w', ts: ts() });

  // A refusal on the cached state (script is not running there) is re-made on the stored state, and lands.
  const completed = await mine.handle('job-s', {
    type: 'complete_stage',
    stage: 'script',
    actor: 'w',
    ts: ts(),
  });
  t.deepEqual(
    completed.events.map((e) => [e.type, e.seq]),
    [['stage_completed', 3]],
  );

  // A decision on the cached state that conflicts is re-decided on fresh state: one more append, no error.
  await other.handle('job-s', { type: 'start_stage', stage: 'storyboard', actor: 'w', ts: ts() });
  const before = appends.length;
  const next = await mine.handle('job-s', (state) =>
    state.stages.find((s) => s.name === 'storyboard')?.status === 'running'
      ? { type: 'complete_stage', stage: 'storyboard', actor: 'w', ts: ts() }
      : { type: 'start_stage', stage: 'storyboard', actor: 'w', ts: ts() },
  );
  t.is(next.events[0]?.type, 'stage_completed');
  t.true(appends.length - before <= 2);

  // An explicit expected seq checked against a stale cache answers stale_seq, as a fresh read would.
  await other.handle('job-s', { type: 'cancel_job', actor: 'bob', ts: ts() });
  const error = await t.throwsAsync(() =>
    mine.handle('job-s', { type: 'cancel_job', actor: 'bob', ts: ts() }, { expectedSeq: next.state.seq }),
  );
  t.is((error as { code?: string }).code, 'stale_seq');
});
