import { randomUUID } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import type { LogLine, LogSource } from '../domain/logRecord.ts';
import type { EventStore, ExpectedRevision } from '../infra/eventstore/eventStore.ts';
import { isWrongExpectedRevisionError } from '../infra/eventstore/eventStore.ts';
import {
  lastLogRecord,
  logStreamName,
  readStageRuns,
  stageLogEnd,
  toLogEventData,
} from '../infra/eventstore/stageLogStreams.ts';
import { openPrivateFile } from '../infra/files/privateFile.ts';
import type { LogBatcherOptions } from './logBatcher.ts';
import { DEFAULT_BATCH, LogBatcher } from './logBatcher.ts';
import { StageLogWriter } from './stageLogWriter.ts';

export type LogStream = LogSource;

/** A line longer than this is written in pieces: a command that never prints a newline cannot grow memory. */
const MAX_LINE_CHARS = 64 * 1024;
/** Lines kept for the `stage_failed` payload, each cut to this many characters. */
const TAIL_LINES = 20;
const TAIL_LINE_CHARS = 500;

export interface StageLogOptions {
  store: EventStore;
  jobId: string;
  stage: string;
  /** The attempt's number and the seq of its `stage_started` (which names its log stream). */
  attempt: number;
  startedSeq: number;
  /** `runner.max_log_bytes`. */
  maxLogBytes: number;
  now: () => Date;
  /** The stage's projected log file (`runs/<id>/logs/<stage>.log`), checked before anything is written. */
  file: string;
  /** The file's name in messages (`logs/<stage>.log`). */
  label: string;
  /** Told once, when the store refuses the log for good (a full disk): the rest of the output is dropped. */
  onWriteError?: (error: Error) => void;
  /** Told true when unwritten output piles up (pause reading the command), false when it drained. */
  onPressure?: (high: boolean) => void;
  /** Told once, when the output passed `maxLogBytes`: the rest can be dropped where it is read. */
  onCut?: () => void;
  /** Batch bounds (tests); default 64 lines, 16 KiB, 50 ms. */
  batch?: Partial<Pick<LogBatcherOptions, 'maxLines' | 'maxBytes' | 'windowMs'>>;
}

/**
 * The log of one stage attempt: one line per output line, stamped with an ISO time and its source
 * (`stdout`, `stderr`, or `runner` for the operator's own notes), appended to the event store in batches
 * as records of the attempt's own log stream (see `stageLogStreams.ts`), capped at `runner.max_log_bytes`.
 * `runs/<id>/logs/<stage>.log` is a projection of those streams. It keeps the last lines of output for
 * the failure payload.
 *
 * Before anything is written, the stage's projected log file is opened the way the projection opens it
 * (O_NOFOLLOW, a regular file with one name): `logs/` is reachable from the stage's work dir, and a link
 * planted as the next stage's log fails that attempt before its command starts (`UnsafeFileError`).
 */
export class StageLog {
  readonly #tail: string[] = [];
  readonly #partial = new Map<LogStream, { decoder: StringDecoder; text: string }>();
  readonly #batcher: LogBatcher;
  readonly #writer: StageLogWriter;
  readonly #onCut: (() => void) | undefined;
  #closed = false;

  private constructor(
    writer: StageLogWriter,
    options: StageLogOptions,
    private readonly now: () => Date,
  ) {
    this.#writer = writer;
    this.#onCut = options.onCut;
    this.#batcher = new LogBatcher({
      ...DEFAULT_BATCH,
      ...options.batch,
      maxLogBytes: options.maxLogBytes,
      now: options.now,
      emit: (lines, bytes) => writer.write(lines, bytes),
    });
  }

  static async open(options: StageLogOptions): Promise<StageLog> {
    const check = await openPrivateFile(options.file, 'append', options.label);
    await check.close();
    const runs = await readStageRuns(options.store, options.jobId, options.stage);
    const before = runs.filter((r) => r.startedSeq < options.startedSeq);
    const { end } = await stageLogEnd(options.store, options.jobId, options.stage, before);
    const writer = new StageLogWriter({
      store: options.store,
      jobId: options.jobId,
      stage: options.stage,
      attempt: options.attempt,
      startedSeq: options.startedSeq,
      baseOffset: end,
      ...(options.onWriteError ? { onGiveUp: options.onWriteError } : {}),
      ...(options.onPressure ? { onPressure: options.onPressure } : {}),
    });
    return new StageLog(writer, options, options.now);
  }

  /** The last output lines (stdout and stderr, not the runner's notes), oldest first. */
  get tail(): string[] {
    return [...this.#tail];
  }

  /** The attempt's log stream. */
  get stream(): string {
    return this.#writer.stream;
  }

  /** True once the output passed `runner.max_log_bytes` and was cut. */
  get cut(): boolean {
    return this.#batcher.cut;
  }

  /** Writes one whole line. */
  line(stream: LogStream, text: string): void {
    if (this.#closed) return;
    const line: LogLine = { ts: this.now().toISOString(), stream, text: text.replace(/\n/g, ' ') };
    const wasCut = this.#batcher.cut;
    const kept = this.#batcher.add(line);
    if (!wasCut && this.#batcher.cut) this.#onCut?.();
    if (stream === 'runner' || !kept) return;
    const shown = `${line.ts} ${stream} ${line.text}`;
    this.#tail.push(shown.length > TAIL_LINE_CHARS ? `${shown.slice(0, TAIL_LINE_CHARS)}…` : shown);
    if (this.#tail.length > TAIL_LINES) this.#tail.shift();
  }

  /** Feeds raw output of a stream; complete lines are written at once, a partial one waits for its end. */
  write(stream: Exclude<LogStream, 'runner'>, chunk: Buffer): void {
    // Past the cap every line would be dropped: not decoded, split and stamped first (a flood is read at
    // the pipe's speed, and the main thread must keep serving).
    if (this.#batcher.cut) {
      this.#partial.clear();
      return;
    }
    let partial = this.#partial.get(stream);
    if (!partial) {
      partial = { decoder: new StringDecoder('utf8'), text: '' };
      this.#partial.set(stream, partial);
    }
    const lines = (partial.text + partial.decoder.write(chunk)).split('\n');
    partial.text = lines.pop() ?? '';
    for (const l of lines) this.line(stream, l.replace(/\r$/, ''));
    while (partial.text.length > MAX_LINE_CHARS) {
      this.line(stream, partial.text.slice(0, MAX_LINE_CHARS));
      partial.text = partial.text.slice(MAX_LINE_CHARS);
    }
  }

  /** Writes what is left of unterminated lines (the command's output is over). */
  flushPartialLines(): void {
    for (const [stream, partial] of this.#partial) {
      const rest = partial.text + partial.decoder.end();
      if (rest.length > 0 && stream !== 'runner') this.line(stream, rest);
    }
    this.#partial.clear();
  }

  /** Flushes: every line is in the store (or given up on) when it resolves. Later lines are ignored. */
  async close(): Promise<void> {
    this.flushPartialLines();
    this.#closed = true;
    this.#batcher.flush();
    await this.#writer.flushed();
  }
}

/**
 * Appends one `runner` note to the log of a stage's latest attempt (e.g. `operator restarted` for an
 * attempt whose runner is gone), after its last line. It expects the stream's revision it read, so it never
 * lands between a record and the offset it computed from it; a writer still appending to that attempt is
 * refused from then on.
 */
export async function appendLogNote(
  store: EventStore,
  jobId: string,
  stage: string,
  ts: Date,
  note: string,
): Promise<{ stream: string; offset: number } | null> {
  const runs = await readStageRuns(store, jobId, stage);
  const run = runs.at(-1);
  if (!run) return null;
  const stream = logStreamName(jobId, stage, run.startedSeq);
  for (let attempt = 0; ; attempt++) {
    const last = await lastLogRecord(store, jobId, stage, run);
    const offset = last ? last.end : (await stageLogEnd(store, jobId, stage, runs.slice(0, -1))).end;
    const expected: ExpectedRevision = last ? last.revision : 'no_stream';
    const record = {
      job_id: jobId,
      stage,
      attempt: run.attempt,
      started_seq: run.startedSeq,
      offset,
      lines: [{ ts: ts.toISOString(), stream: 'runner' as const, text: note.replace(/\n/g, ' ') }],
    };
    try {
      await store.append(stream, [toLogEventData(record, randomUUID())], { expectedRevision: expected });
      return { stream, offset };
    } catch (error) {
      if (!isWrongExpectedRevisionError(error) || attempt >= 5) throw error;
    }
  }
}
