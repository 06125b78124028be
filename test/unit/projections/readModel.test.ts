import test from 'ava';
import type { JobEvent } from '../../../src/domain/events.ts';
import type { EventStore } from '../../../src/infra/eventstore/eventStore.ts';
import {
  CheckpointConflictError,
  canonicalJson,
  InvalidQueryError,
  ReadModelProjection,
} from '../../../src/projections/index.ts';
import { allJobEvents } from '../../helpers/jobTraffic.ts';
import { harness } from '../../helpers/projectionHarness.ts';

async function jobEvents(store: EventStore, jobId: string): Promise<JobEvent[]> {
  return (await allJobEvents(store)).filter((e) => e.job_id === jobId);
}

const seqsOf = (events: string[]) => events.map((e) => (JSON.parse(e) as { seq: number }).seq);

test('jobEvents: latest, after, since, limit; rows are the canonical JSON', async (t) => {
  const h = await harness();
  t.teardown(h.cleanup);
  await h.traffic.runPlan('other', 'completed');
  await h.traffic.runPlan('r', 'rerun');
  await h.settle();
  const rm = h.projections.readModel;
  const events = await jobEvents(h.store, 'r');
  const head = (events.at(-1) as JobEvent).seq;
  t.is(rm.head('r'), head);
  t.is(rm.head('nobody'), -1);

  const latest = rm.jobEvents('r', { limit: 3 });
  t.deepEqual(seqsOf(latest.events), [head - 2, head - 1, head]);
  t.deepEqual(latest.events, events.slice(-3).map(canonicalJson));
  t.is(latest.next_after, head);
  t.is(latest.head, head);

  const first = rm.jobEvents('r', { after: -1, limit: 4 });
  t.deepEqual(seqsOf(first.events), [0, 1, 2, 3]);
  t.is(first.next_after, 3);
  t.is(first.head, head, 'a full page ends before the head: the head is read, not taken from the page');
  const second = rm.jobEvents('r', { after: first.next_after as number, limit: 4 });
  t.deepEqual(seqsOf(second.events), [4, 5, 6, 7]);
  const tail = rm.jobEvents('r', { after: head - 2, limit: 4 });
  t.deepEqual(seqsOf(tail.events), [head - 1, head]);
  t.is(tail.head, head);
  t.is(rm.jobEvents('r', { after: head - 4, limit: 4 }).head, head, 'a page that exactly reaches the head');
  const end = rm.jobEvents('r', { after: head, limit: 4 });
  t.deepEqual(end, { events: [], next_after: head, head });

  // since is inclusive and keeps every event sharing that ts (stage_completed + gate_pause share one)
  const pause = events.find((e) => e.type === 'gate_pause') as JobEvent;
  const sameTs = events.filter((e) => e.ts === pause.ts).map((e) => e.seq);
  t.true(sameTs.length >= 2);
  const since = rm.jobEvents('r', { since: pause.ts, limit: 100 });
  t.deepEqual(
    seqsOf(since.events),
    events.filter((e) => e.seq >= (sameTs[0] as number)).map((e) => e.seq),
  );
  // a since without milliseconds compares as a time, not as a string
  const whole = rm.jobEvents('r', { since: pause.ts.replace('.000Z', 'Z'), limit: 2 });
  t.deepEqual(seqsOf(whole.events), sameTs.slice(0, 2));
  t.is(whole.next_after, sameTs[1] as number);
  const future = rm.jobEvents('r', { since: '2030-01-01T00:00:00Z', limit: 5 });
  t.deepEqual(future, { events: [], next_after: head, head });
  t.deepEqual(rm.jobEvents('nobody', { limit: 5 }), { events: [], next_after: null, head: -1 });
  t.throws(() => rm.jobEvents('r', { since: 'yesterday', limit: 5 }), { instanceOf: InvalidQueryError });
  t.throws(() => rm.jobEvents('r', { after: 1.5, limit: 5 }), { instanceOf: InvalidQueryError });

  // knownJobEvents: the same pages for a job with a row, undefined for one without
  for (const query of [
    { limit: 3 },
    { after: 2, limit: 4 },
    { after: head, limit: 4 },
    { since: pause.ts, limit: 2 },
  ])
    t.deepEqual(rm.knownJobEvents('r', query), rm.jobEvents('r', query));
  t.is(rm.knownJobEvents('nobody', { limit: 5 }), undefined);
  t.is(rm.knownJobEvents('nobody', { after: 1.5, limit: 5 }), undefined);
  t.throws(() => rm.knownJobEvents('r', { since: 'yesterday', limit: 5 }), { instanceOf: InvalidQueryError });
});

test('listJobs: newest first, status filter, cursor pages', async (t) => {
  const h = await harness();
  t.teardown(h.cleanup);
  const outcomes = ['completed', 'paused', 'failed', 'completed', 'canceled', 'completed', 'queued'] as const;
  for (const [i, outcome] of outcomes.entries()) await h.traffic.runPlan(`job${i}`, outcome);
  await h.settle();
  const rm = h.projections.readModel;
  const all = rm.listJobs({ limit: 100 });
  t.deepEqual(
    all.jobs.map((j) => j.job_id),
    ['job6', 'job5', 'job4', 'job3', 'job2', 'job1', 'job0'],
  );
  t.is(all.next_cursor, null);
  const page1 = rm.listJobs({ limit: 3 });
  t.deepEqual(
    page1.jobs.map((j) => j.job_id),
    ['job6', 'job5', 'job4'],
  );
  const page2 = rm.listJobs({ limit: 3, cursor: page1.next_cursor as string });
  t.deepEqual(
    page2.jobs.map((j) => j.job_id),
    ['job3', 'job2', 'job1'],
  );
  const page3 = rm.listJobs({ limit: 3, cursor: page2.next_cursor as string });
  t.deepEqual(
    page3.jobs.map((j) => j.job_id),
    ['job0'],
  );
  t.is(page3.next_cursor, null);

  const completed1 = rm.listJobs({ status: 'completed', limit: 2 });
  t.deepEqual(
    completed1.jobs.map((j) => j.job_id),
    ['job5', 'job3'],
  );
  const completed2 = rm.listJobs({ status: 'completed', limit: 2, cursor: completed1.next_cursor as string });
  t.deepEqual(
    completed2.jobs.map((j) => j.job_id),
    ['job0'],
  );
  t.is(completed2.next_cursor, null);
  t.deepEqual(rm.listJobs({ status: 'nonsense', limit: 5 }), { jobs: [], next_cursor: null });
  t.throws(() => rm.listJobs({ limit: 2, cursor: 'garbage' }), { instanceOf: InvalidQueryError });

  // a status change moves the job between the status index entries
  await h.traffic.run('job1', { type: 'approve_gate', gate: 'storyboard' });
  await h.settle();
  t.deepEqual(rm.listJobs({ status: 'paused', limit: 5 }).jobs, []);
  t.deepEqual(
    rm.listJobs({ status: 'running', limit: 5 }).jobs.map((j) => j.job_id),
    ['job1'],
  );
  t.is(rm.listJobs({ limit: 100 }).jobs.length, 7);
});

test('getJob: the summary row; getJobState: the whole state', async (t) => {
  const h = await harness();
  t.teardown(h.cleanup);
  await h.traffic.runPlan('p', 'paused');
  await h.settle();
  const events = await jobEvents(h.store, 'p');
  const last = events.at(-1) as JobEvent;
  t.like(h.projections.readModel.getJob('p'), {
    job_id: 'p',
    pipeline: 'video',
    status: 'paused',
    current_stage: 'storyboard',
    paused_gate: 'storyboard',
    seq: last.seq,
    head_position: last.position,
    event_count: events.length,
    stages_total: 3,
    stages_completed: 2,
    last_event_type: 'gate_pause',
    created_at: events[0]?.ts,
    updated_at: last.ts,
    finished_at: null,
    params: { topic: 'topic of p', n: 1 },
  });
  t.is(h.projections.readModel.getJobState('p')?.gates['storyboard']?.status, 'paused');
  t.is(h.projections.readModel.getJob('nobody'), undefined);
});

test('eventsAfterPosition: global order, job and type filters, cursor', async (t) => {
  const h = await harness();
  t.teardown(h.cleanup);
  await h.traffic.runMany({ jobs: 6, concurrency: 3 });
  await h.settle();
  const rm = h.projections.readModel;
  const all = await allJobEvents(h.store);
  const positions = (events: string[]) => events.map((e) => (JSON.parse(e) as { position: string }).position);
  const collected: string[] = [];
  let after: string | null = null;
  for (;;) {
    const page = rm.eventsAfterPosition(after, 10);
    if (page.events.length === 0) {
      t.is(page.next_after, after);
      break;
    }
    collected.push(...page.events);
    after = page.next_after;
  }
  t.deepEqual(collected, all.map(canonicalJson));
  t.is(rm.checkpoint(), (all.at(-1) as JobEvent).position);

  const j2 = all.filter((e) => e.job_id === 'j00002');
  const byJob = rm.eventsAfterPosition((j2[1] as JobEvent).position, 3, { jobId: 'j00002' });
  t.deepEqual(
    positions(byJob.events),
    j2.slice(2, 5).map((e) => e.position),
  );
  // a job's events after any position of the log (its own, another job's, none), found without an index
  const afters = [
    null,
    '0',
    ...all.map((e) => e.position),
    `${BigInt((all.at(-1) as JobEvent).position) + 5n}`,
  ];
  const wrong: string[] = [];
  for (const jobId of new Set(all.map((e) => e.job_id)))
    for (const a of afters) {
      const want = all
        .filter((e) => e.job_id === jobId && (a === null || BigInt(e.position) > BigInt(a)))
        .map((e) => e.position);
      const got = positions(rm.eventsAfterPosition(a, 1000, { jobId }).events);
      if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`${jobId} after ${a}`);
    }
  t.deepEqual(wrong, []);
  const gates = rm.eventsAfterPosition(null, 100, { types: ['gate_pause', 'gate_approved'] });
  t.deepEqual(
    positions(gates.events),
    all.filter((e) => e.type === 'gate_pause' || e.type === 'gate_approved').map((e) => e.position),
  );
  t.is(gates.next_after, (all.at(-1) as JobEvent).position);
  t.throws(() => rm.eventsAfterPosition('x1', 5), { instanceOf: InvalidQueryError });
});

test('rows and checkpoint commit together: a replayed batch changes nothing, a racing writer is refused', async (t) => {
  const h = await harness();
  t.teardown(h.cleanup);
  await h.projections.runner.stop();
  await h.traffic.runPlan('a', 'completed');
  await h.traffic.runPlan('b', 'paused');
  const events = await allJobEvents(h.store);
  const store = h.projections.readModelStore;
  const first = new ReadModelProjection({ store });
  const second = new ReadModelProjection({ store });
  const half = events.slice(0, 8);
  const results = await Promise.allSettled([first.apply(half), second.apply(half)]);
  t.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  t.true(rejected.reason instanceof CheckpointConflictError);
  const tables = store.tables();
  const countRows = () => [...tables.positions.getKeys({})].length;
  t.is(countRows(), 8);
  t.is(await first.checkpoint(), (half.at(-1) as JobEvent).position);

  await first.apply(events.slice(0, 10));
  t.is(countRows(), 10);
  await first.apply(events.slice(0, 10));
  t.is(countRows(), 10);
  t.is(h.projections.readModel.getJob('a')?.event_count, 10);
  await first.apply(events);
  t.is(countRows(), events.length);
  t.is(h.projections.readModel.getJob('a')?.status, 'completed');
  t.is(h.projections.readModel.checkpoint(), (events.at(-1) as JobEvent).position);
});

test('queries follow the active generation', async (t) => {
  const h = await harness();
  t.teardown(h.cleanup);
  await h.traffic.runPlan('g', 'paused');
  await h.settle();
  const store = h.projections.readModelStore;
  t.is(h.projections.readModel.generation(), 1);
  const next = new ReadModelProjection({ store, generation: 2 });
  await next.apply((await allJobEvents(h.store)).slice(0, 3));
  t.is(h.projections.readModel.head('g'), 6);
  await store.activateGeneration(2);
  t.is(h.projections.readModel.generation(), 2);
  t.is(h.projections.readModel.head('g'), 2);
  await store.activateGeneration(1);
  await store.clearGeneration(2);
  t.is(await next.checkpoint(), null);
});
