import test from 'ava';
import type { EventType, JobEvent, JobStatus, Payload } from '../../../src/domain/events.ts';
import { JobBook } from '../../../src/runner/jobBook.ts';

const pipeline = {
  name: 'p',
  stages: [
    { name: 'a', retries: 0, env: {}, gate: { on_timeout: 'wait', on_reject: 'fail' } },
    { name: 'b', retries: 0, env: {} },
  ],
};

/** A log of job events with global positions in append order. */
function log() {
  let position = 0;
  const seqs = new Map<string, number>();
  return (
    jobId: string,
    type: EventType,
    status: JobStatus,
    fields: { stage?: string; payload?: Payload } = {},
  ): JobEvent => {
    const seq = (seqs.get(jobId) ?? -1) + 1;
    seqs.set(jobId, seq);
    return {
      id: `${jobId}-${seq}`,
      job_id: jobId,
      seq,
      position: String(position++),
      ts: new Date(Date.UTC(2026, 10, 24, 10, 0, position)).toISOString(),
      type,
      stage: fields.stage ?? null,
      status,
      message: type,
      payload: fields.payload ?? (type === 'job_created' ? { pipeline, params: {} } : {}),
      actor: 'test',
    };
  };
}

test('queued jobs wait in the order of their job_created; a running job holds the lowest free lane', (t) => {
  const book = new JobBook({ lanes: 2, gateHoldsLane: true });
  const e = log();
  for (const id of ['x', 'y', 'z']) t.is(book.apply(e(id, 'job_created', 'queued')), 'applied');
  t.is(book.firstQueued(), 'x');
  t.deepEqual(book.queueInfo('z'), { queue_position: 3, lane: null });
  book.apply(e('y', 'job_started', 'running'));
  t.deepEqual(book.queueInfo('y'), { queue_position: null, lane: 1 });
  t.deepEqual(book.queueInfo('z'), { queue_position: 2, lane: null });
  book.apply(e('x', 'job_started', 'running'));
  t.deepEqual(book.queueInfo('x'), { queue_position: null, lane: 2 });
  t.is(book.occupied(), 2);
  book.apply(e('y', 'job_canceled', 'canceled'));
  t.is(book.get('y'), undefined, 'a finished job leaves the book');
  t.is(book.occupied(), 1);
  book.apply(e('z', 'job_started', 'running'));
  t.deepEqual(book.queueInfo('z'), { queue_position: null, lane: 1 }, 'the freed lane is reused');
});

test('a paused job keeps its lane only while gate_holds_lane is true', (t) => {
  for (const gateHoldsLane of [true, false]) {
    const book = new JobBook({ lanes: 1, gateHoldsLane });
    const e = log();
    book.apply(e('x', 'job_created', 'queued'));
    book.apply(e('x', 'job_started', 'running'));
    book.apply(e('x', 'stage_started', 'running', { stage: 'a' }));
    book.apply(e('x', 'stage_completed', 'running', { stage: 'a' }));
    book.apply(e('x', 'gate_pause', 'paused', { stage: 'a', payload: { gate: 'a', deadline: null } }));
    t.is(book.occupied(), gateHoldsLane ? 1 : 0);
  }
});

test('copies of known events are stale; an event after a gap, or of an unknown job, asks for a load', (t) => {
  const book = new JobBook({ lanes: 1, gateHoldsLane: true });
  const e = log();
  const created = e('x', 'job_created', 'queued');
  book.apply(created);
  t.is(book.apply(created), 'stale');
  e('x', 'job_started', 'running');
  t.is(book.apply(e('x', 'stage_started', 'running', { stage: 'a' })), 'gap');
  t.is(book.apply(e('other', 'job_started', 'running')), 'gap');
  const failed = e('x', 'job_failed', 'failed');
  book.put(
    'x',
    { ...(book.get('x') as NonNullable<ReturnType<typeof book.get>>), status: 'failed', seq: failed.seq },
    0n,
  );
  t.is(book.get('x'), undefined);
  t.is(book.apply(failed), 'stale', 'a finished job remembers how far it got');
  t.is(book.apply(e('x', 'job_resumed', 'running')), 'gap', 'a resumed job is loaded again');
});
