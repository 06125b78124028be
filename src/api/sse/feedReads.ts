import type { JobStatus } from '../../domain/events.ts';
import type { EventStore, RecordedEvent } from '../../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX, jobStreamName } from '../../infra/eventstore/eventStore.ts';
import { toJobEvent } from '../../infra/eventstore/jobEvents.ts';

/** Events a feed reads from the store (or the ring) at a time. */
export const BATCH = 256;

/** The job's status after its event `seq`; null when there is no such event. */
export async function statusAt(store: EventStore, jobId: string, seq: number): Promise<JobStatus | null> {
  for await (const recorded of store.readStream(jobStreamName(jobId), { fromRevision: seq, maxCount: 1 })) {
    return toJobEvent(recorded).status;
  }
  return null;
}

/** Up to `BATCH` events of every job after `cursor` (a position; -1: from the start). */
export async function readAllAfter(store: EventStore, cursor: bigint): Promise<RecordedEvent[]> {
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

/** Up to `BATCH` events of one job after `seq`. */
export async function readStreamAfter(
  store: EventStore,
  jobId: string,
  seq: number,
): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const recorded of store.readStream(jobStreamName(jobId), {
    fromRevision: seq + 1,
    maxCount: BATCH,
  })) {
    out.push(recorded);
  }
  return out;
}
