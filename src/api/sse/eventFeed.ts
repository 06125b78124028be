import type { JobStatus } from '../../domain/events.ts';
import { isTerminal } from '../../domain/events.ts';
import type { EventStore, RecordedEvent } from '../../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX, jobStreamName } from '../../infra/eventstore/eventStore.ts';
import { toJobEvent } from '../../infra/eventstore/jobEvents.ts';
import type { LiveTail } from './liveTail.ts';
import { WireEvent } from './liveTail.ts';

const BATCH = 256;

export interface AllFeedFilter {
  types?: ReadonlySet<string>;
  jobId?: string;
}

/**
 * One client's catch-up cursor over every job: history from the store after `after` (exclusive; -1 = from
 * the start), then the process's live tail. Yields each event once, in position order, and pulls the next
 * batch only when the consumer asks for it.
 */
export async function* allJobsFeed(
  store: EventStore,
  tail: LiveTail,
  after: bigint,
  filter: AllFeedFilter,
  signal: AbortSignal,
): AsyncGenerator<WireEvent> {
  const matches = (w: WireEvent) =>
    (!filter.types || filter.types.has(w.event.type)) && (!filter.jobId || w.event.job_id === filter.jobId);
  let cursor = after;
  while (!signal.aborted && !tail.isStopped) {
    if (tail.covers(cursor)) {
      const batch = tail.eventsAfter(cursor, BATCH);
      if (batch.length === 0) {
        await tail.waitBeyond(cursor, signal);
        continue;
      }
      for (const wire of batch) {
        cursor = wire.positionValue;
        if (matches(wire)) yield wire;
      }
      continue;
    }
    await tail.ready;
    // Whatever the tail had seen before this read is either in the history read now or does not exist.
    const seen = tail.position();
    const history = await readAllAfter(store, cursor);
    if (history.length === 0) {
      if (seen !== null && seen > cursor) cursor = seen;
      if (!tail.covers(cursor)) await tail.waitBeyond(cursor, signal);
      continue;
    }
    for (const recorded of history) {
      const wire = new WireEvent(toJobEvent(recorded));
      cursor = wire.positionValue;
      if (matches(wire)) yield wire;
    }
  }
}

/**
 * One client's catch-up cursor over one job: its stream after `afterSeq` (exclusive; -1 = from the start),
 * then the live tail. Ends after the job reaches a terminal state and nothing follows it.
 */
export async function* jobFeed(
  store: EventStore,
  tail: LiveTail,
  jobId: string,
  afterSeq: number,
  signal: AbortSignal,
): AsyncGenerator<WireEvent, 'ended' | 'aborted'> {
  let seq = afterSeq;
  let lastStatus = afterSeq >= 0 ? await statusAt(store, jobId, afterSeq) : null;
  while (!signal.aborted && !tail.isStopped) {
    await tail.ready;
    // Every event of this job up to `seen` is delivered once the stream has been read to its end.
    const seen = tail.position();
    const history = await readStreamAfter(store, jobId, seq);
    for (const recorded of history) {
      const wire = new WireEvent(toJobEvent(recorded));
      seq = wire.event.seq;
      lastStatus = wire.event.status;
      yield wire;
    }
    if (history.length === BATCH) continue;
    if (lastStatus && isTerminal(lastStatus)) return 'ended';
    if (seen === null || !tail.covers(seen)) continue;
    let cursor = seen;
    let gap = false;
    while (!signal.aborted && !gap && tail.covers(cursor)) {
      const batch = tail.eventsAfter(cursor, BATCH);
      if (batch.length === 0) {
        await tail.waitBeyond(cursor, signal);
        continue;
      }
      for (const wire of batch) {
        if (wire.event.job_id !== jobId || wire.event.seq <= seq) {
          cursor = wire.positionValue;
          continue;
        }
        if (wire.event.seq !== seq + 1) {
          gap = true; // the ring does not hold what came before: read the stream again
          break;
        }
        cursor = wire.positionValue;
        seq = wire.event.seq;
        yield wire;
        if (isTerminal(wire.event.status)) return 'ended';
      }
    }
  }
  return 'aborted';
}

async function statusAt(store: EventStore, jobId: string, seq: number): Promise<JobStatus | null> {
  for await (const recorded of store.readStream(jobStreamName(jobId), { fromRevision: seq, maxCount: 1 })) {
    return toJobEvent(recorded).status;
  }
  return null;
}

async function readAllAfter(store: EventStore, cursor: bigint): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  const fromPosition = cursor < 0n ? 'start' : cursor.toString();
  for await (const recorded of store.readAll({
    fromPosition,
    maxCount: BATCH + 1,
    filter: { streamNamePrefix: [JOB_STREAM_PREFIX] },
  })) {
    if (BigInt(recorded.position) > cursor) out.push(recorded);
  }
  return out.slice(0, BATCH);
}

async function readStreamAfter(store: EventStore, jobId: string, seq: number): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const recorded of store.readStream(jobStreamName(jobId), {
    fromRevision: seq + 1,
    maxCount: BATCH,
  })) {
    out.push(recorded);
  }
  return out;
}
