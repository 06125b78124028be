import { OperatorError } from '../../domain/errors.ts';
import type { JobEvent } from '../../domain/events.ts';
import type { StageLogRecord, StageRun } from '../../domain/logRecord.ts';
import {
  LOG_RECORD_SCHEMA_VERSION,
  LOG_RECORD_TYPE,
  logRecordMetadataSchema,
  recordEnd,
  stageLogRecordSchema,
  stageRuns,
} from '../../domain/logRecord.ts';
import type { EventData, EventStore, RecordedEvent } from './eventStore.ts';
import { jobStreamName } from './eventStore.ts';
import { toJobEvent } from './jobEvents.ts';

/**
 * Stage logs live in streams of their own category, one per stage attempt: `joblog-<job>.<stage>.<seq>`,
 * `<seq>` being the seq of the attempt's `stage_started` (attempt numbers restart after a resume or a
 * rerun; that seq never repeats). `.` is in no job id or stage name, so a name belongs to one attempt only.
 * `joblog-` does not start with `job-`: readers of `$all` filtered by `job-` never see a log record, and a
 * log stream never counts against `storage.max_events_per_job`.
 */
export const LOG_STREAM_PREFIX = 'joblog-';

export const logStreamName = (jobId: string, stage: string, startedSeq: number): string =>
  `${LOG_STREAM_PREFIX}${jobId}.${stage}.${startedSeq}`;

/** A record as read back: the record, where the store put it, and the byte offset just past its lines. */
export interface StoredStageLog {
  record: StageLogRecord;
  stream: string;
  revision: number;
  position: string;
  id: string;
  end: number;
}

/** A stored log record of a schema version this code does not know, or that does not parse. */
export class UnreadableLogRecordError extends OperatorError {
  constructor(stream: string, revision: number, why: string) {
    super('unreadable_log_record', `log record ${stream}@${revision}: ${why}`, 'internal', {
      stream,
      revision,
    });
  }
}

export function toLogEventData(record: StageLogRecord, id: string): EventData {
  return {
    id,
    type: LOG_RECORD_TYPE,
    data: record as unknown as Record<string, unknown>,
    metadata: { schema_version: LOG_RECORD_SCHEMA_VERSION },
  };
}

export const isLogRecord = (recorded: RecordedEvent): boolean =>
  recorded.streamId.startsWith(LOG_STREAM_PREFIX) && recorded.type === LOG_RECORD_TYPE;

export function toStoredStageLog(recorded: RecordedEvent): StoredStageLog {
  const meta = logRecordMetadataSchema.safeParse(recorded.metadata);
  if (!meta.success)
    throw new UnreadableLogRecordError(
      recorded.streamId,
      recorded.revision,
      `schema version ${JSON.stringify(recorded.metadata['schema_version'])} is not ${LOG_RECORD_SCHEMA_VERSION}`,
    );
  const parsed = stageLogRecordSchema.safeParse(recorded.data);
  if (!parsed.success)
    throw new UnreadableLogRecordError(recorded.streamId, recorded.revision, parsed.error.message);
  return {
    record: parsed.data,
    stream: recorded.streamId,
    revision: recorded.revision,
    position: recorded.position,
    id: recorded.id,
    end: recordEnd(parsed.data),
  };
}

/** The job's events, oldest first (a job's stream is capped by `storage.max_events_per_job`). */
export async function readJobStream(store: EventStore, jobId: string): Promise<JobEvent[]> {
  const events: JobEvent[] = [];
  for await (const recorded of store.readStream(jobStreamName(jobId))) events.push(toJobEvent(recorded));
  return events;
}

/** Every attempt of `stage`, from the job's stream. */
export async function readStageRuns(store: EventStore, jobId: string, stage: string): Promise<StageRun[]> {
  return stageRuns(await readJobStream(store, jobId), stage);
}

/** The last record of one attempt's stream, or null when it has none. */
export async function lastLogRecord(
  store: EventStore,
  jobId: string,
  stage: string,
  run: StageRun,
): Promise<StoredStageLog | null> {
  for await (const recorded of store.readStream(logStreamName(jobId, stage, run.startedSeq), {
    direction: 'backwards',
    fromRevision: 'end',
    maxCount: 1,
  }))
    return toStoredStageLog(recorded);
  return null;
}

/** The stage's log size in bytes: where the last record of its latest attempt with output ends. */
export async function stageLogEnd(
  store: EventStore,
  jobId: string,
  stage: string,
  runs: readonly StageRun[],
): Promise<{ end: number; records: boolean }> {
  for (let i = runs.length - 1; i >= 0; i--) {
    const last = await lastLogRecord(store, jobId, stage, runs[i] as StageRun);
    if (last) return { end: last.end, records: true };
  }
  return { end: 0, records: false };
}

/**
 * The stage's records whose lines end past `fromOffset`, attempt after attempt, in log order. An attempt
 * whose last record ends at or before `fromOffset` is skipped with one read.
 */
export async function* readStageLog(
  store: EventStore,
  jobId: string,
  stage: string,
  runs: readonly StageRun[],
  fromOffset = 0,
): AsyncGenerator<StoredStageLog> {
  for (const run of runs) {
    if (fromOffset > 0) {
      const last = await lastLogRecord(store, jobId, stage, run);
      if (last === null || last.end <= fromOffset) continue;
    }
    for await (const recorded of store.readStream(logStreamName(jobId, stage, run.startedSeq))) {
      const stored = toStoredStageLog(recorded);
      if (stored.end > fromOffset) yield stored;
    }
  }
}
