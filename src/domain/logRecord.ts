import { z } from 'zod';
import type { JobEvent } from './events.ts';
import { nameSchema } from './events.ts';
import { payloadOf } from './payloadOf.ts';

/** The store's event type of a log record. */
export const LOG_RECORD_TYPE = 'stage_log';
/** The record shape's version, in every record's metadata; readers refuse versions they do not know. */
export const LOG_RECORD_SCHEMA_VERSION = 1;

export const LOG_SOURCES = ['stdout', 'stderr', 'runner'] as const;
export type LogSource = (typeof LOG_SOURCES)[number];

/** One line of a stage's output (or a `runner` note), as its log shows it. */
export const logLineSchema = z.object({
  ts: z.iso.datetime(),
  stream: z.enum(LOG_SOURCES),
  /** Without the newline; never holds one. */
  text: z.string().refine((t) => !t.includes('\n'), 'a line holds no newline'),
});
export type LogLine = z.infer<typeof logLineSchema>;

/**
 * A batch of lines of one stage attempt. `offset` is the byte offset of its first line in the stage's
 * log (every attempt of the stage, one after the other, in the line format of `formatLogLine`), so the
 * record's lines end at `offset + logBytes(lines)` and the next record of the stage starts there.
 */
export const stageLogRecordSchema = z.object({
  job_id: nameSchema,
  stage: nameSchema,
  /** The attempt as `stage_started` numbered it. */
  attempt: z.number().int().positive(),
  /** The seq of that `stage_started` in the job's stream: names the attempt's log stream. */
  started_seq: z.number().int().nonnegative(),
  offset: z.number().int().nonnegative(),
  lines: z.array(logLineSchema).min(1),
});
export type StageLogRecord = z.infer<typeof stageLogRecordSchema>;

export const logRecordMetadataSchema = z.object({
  schema_version: z.literal(LOG_RECORD_SCHEMA_VERSION),
});

/** The line as the log file and the log route show it: ISO time, source, text, newline. */
export const formatLogLine = (line: LogLine): string => `${line.ts} ${line.stream} ${line.text}\n`;

export const logLineBytes = (line: LogLine): number => Buffer.byteLength(formatLogLine(line));

export const logBytes = (lines: readonly LogLine[]): number =>
  lines.reduce((sum, line) => sum + logLineBytes(line), 0);

/** The byte offset just past the record's last line. */
export const recordEnd = (record: StageLogRecord): number => record.offset + logBytes(record.lines);

/** What the cap leaves in the log where it cut the output. */
export const outputCutNote = (maxBytes: number): string => `[output cut at ${maxBytes} bytes]`;

/** One attempt of a stage, as the job's stream tells it: the seq of its `stage_started` and its number. */
export interface StageRun {
  startedSeq: number;
  attempt: number;
}

/** Every attempt a stage ever started, in order (resumes and reruns included: attempt numbers may repeat). */
export function stageRuns(events: readonly JobEvent[], stage: string): StageRun[] {
  return events
    .filter((e) => e.type === 'stage_started' && e.stage === stage)
    .map((e) => ({
      startedSeq: e.seq,
      attempt: payloadOf(e, 'stage_started').attempt ?? 1,
    }));
}
