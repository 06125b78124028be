import { toCanonicalJson } from '../domain/events.ts';
import type { EventStore, RecordedEvent } from '../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX, jobStreamName } from '../infra/eventstore/eventStore.ts';
import { toJobEvent } from '../infra/eventstore/jobEvents.ts';
import { comparePositions } from '../projections/index.ts';

export interface ExportRange {
  /** Inclusive store position. */
  from: string;
  /** Inclusive; open-ended when absent. */
  to?: string;
  /** Only this job's events (read from its stream, not from `$all`). */
  jobId?: string;
}

export interface ExportSummary {
  events: number;
  first: string | null;
  last: string | null;
}

/**
 * Streams the canonical JSON of every job event in a position range, in position order, to `write` (one
 * line each). The store is read in cursor batches and `write` is awaited, so memory stays constant
 * whatever the range holds.
 */
export async function exportEvents(
  store: EventStore,
  range: ExportRange,
  write: (line: string) => Promise<void>,
): Promise<ExportSummary> {
  const summary: ExportSummary = { events: 0, first: null, last: null };
  const source: AsyncIterable<RecordedEvent> =
    range.jobId === undefined
      ? store.readAll({ fromPosition: range.from, filter: { streamNamePrefix: [JOB_STREAM_PREFIX] } })
      : store.readStream(jobStreamName(range.jobId));
  for await (const recorded of source) {
    if (comparePositions(recorded.position, range.from) < 0) continue;
    if (range.to !== undefined && comparePositions(recorded.position, range.to) > 0) break;
    await write(`${toCanonicalJson(toJobEvent(recorded))}\n`);
    summary.events++;
    summary.first ??= recorded.position;
    summary.last = recorded.position;
  }
  return summary;
}
