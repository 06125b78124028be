import type { Logger } from 'pino';
import type { JobEvent } from '../domain/events.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { jobStreamName } from '../infra/eventstore/eventStore.ts';
import { toJobEvent } from '../infra/eventstore/jobEvents.ts';

/** A job's events with `fromSeq <= seq < toSeq`, read from its stream. */
export async function readJobEvents(
  store: EventStore,
  jobId: string,
  fromSeq: number,
  toSeq: number,
): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  if (toSeq <= fromSeq) return out;
  const stream = store.readStream(jobStreamName(jobId), { fromRevision: fromSeq, maxCount: toSeq - fromSeq });
  for await (const recorded of stream) {
    if (recorded.revision >= toSeq) break;
    if (recorded.revision >= fromSeq) out.push(toJobEvent(recorded));
  }
  return out;
}

/**
 * The events a projection must apply after `lastSeq`, contiguous: the batch's events above `lastSeq`,
 * with any missing seq before or between them read back from the job's stream. A gap is normal only when
 * the projection's output lost its tail (a file deleted or restored from a backup); seqs the store itself
 * no longer has (retention) are skipped with a warning, as a replay from the store would skip them.
 */
export async function withGapsFilled(
  store: EventStore,
  jobId: string,
  lastSeq: number,
  events: readonly JobEvent[],
  logger?: Logger,
): Promise<JobEvent[]> {
  const out: JobEvent[] = [];
  let last = lastSeq;
  for (const event of events) {
    if (event.seq <= last) continue;
    if (event.seq > last + 1) {
      const missing = await readJobEvents(store, jobId, last + 1, event.seq);
      if (missing.length !== event.seq - last - 1)
        logger?.warn(
          { job_id: jobId, from_seq: last + 1, to_seq: event.seq - 1, found: missing.length },
          'projection gap: the store no longer has some events of this job',
        );
      else
        logger?.info({ job_id: jobId, from_seq: last + 1, to_seq: event.seq - 1 }, 'projection gap filled');
      out.push(...missing);
    }
    out.push(event);
    last = event.seq;
  }
  return out;
}
