import type { Logger } from 'pino';
import type { JobEvent } from '../domain/events.ts';
import type { RecordedEvent } from '../infra/eventstore/eventStore.ts';
import type { LogBatch } from '../infra/eventstore/followLog.ts';
import { toJobEvent } from '../infra/eventstore/jobEvents.ts';
import type { StoredStageLog } from '../infra/eventstore/stageLogStreams.ts';
import { LOG_STREAM_PREFIX, toStoredStageLog } from '../infra/eventstore/stageLogStreams.ts';

/** A stretch of `$all` in position order, split by kind. */
export interface ProjectionBatch {
  events: JobEvent[];
  logs: StoredStageLog[];
  /** The position of the stretch's last record (one skipped as unreadable included); null: none. */
  last: string | null;
}

/** What the runner reads from `$all`: a job event or a stage log record. */
export type ProjectionItem = JobEvent | StoredStageLog;

const isStageLog = (item: ProjectionItem): item is StoredStageLog => 'record' in item;

/**
 * Reads a job event (an unreadable one stops the feed until it can be read: it is retried) or a log record.
 * A log record this version cannot read is skipped (logged): it must not stop the job projections.
 */
export function projectionItemReader(logger: Logger | undefined) {
  return (recorded: RecordedEvent): ProjectionItem | undefined => {
    if (!recorded.streamId.startsWith(LOG_STREAM_PREFIX)) return toJobEvent(recorded);
    try {
      return toStoredStageLog(recorded);
    } catch (error) {
      logger?.error({ err: error, position: recorded.position }, 'projections: log record skipped');
      return undefined;
    }
  };
}

export function toProjectionBatch(batch: LogBatch<ProjectionItem>): ProjectionBatch {
  const split: ProjectionBatch = { events: [], logs: [], last: batch.last };
  for (const item of batch.events) {
    if (isStageLog(item)) split.logs.push(item);
    else split.events.push(item);
  }
  return split;
}
