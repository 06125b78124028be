import { once } from 'node:events';
import type { WriteStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { openPrivateFile } from '../infra/files/privateFile.ts';

export type LogStream = 'stdout' | 'stderr' | 'runner';

/** A line longer than this is written in pieces: a command that never prints a newline cannot grow memory. */
const MAX_LINE_CHARS = 64 * 1024;
/** Lines kept for the `stage_failed` payload, each cut to this many characters. */
const TAIL_LINES = 20;
const TAIL_LINE_CHARS = 500;

export interface StageLogOptions {
  now: () => Date;
  /** The file's name in messages (`logs/<stage>.log`). */
  label: string;
  /** Told once, when a write fails (a full disk): the rest of the attempt's output is dropped, the tail kept. */
  onWriteError?: (error: Error) => void;
}

/**
 * The log of one stage attempt, appended to `logs/<stage>.log`: one line per output line, prefixed with an
 * ISO timestamp and the stream name (`stdout`, `stderr`, or `runner` for the operator's own notes). It keeps
 * the last lines of output for the failure payload.
 *
 * The file is opened with O_NOFOLLOW and must be a regular file with one name: `logs/` is reachable from
 * the stage's work dir, and a link planted as the next stage's log must not make the runner append to the
 * file it points to (`UnsafeFileError` instead, and that attempt fails before its command starts).
 */
export class StageLog {
  readonly #out: WriteStream;
  readonly #tail: string[] = [];
  readonly #partial = new Map<LogStream, { decoder: StringDecoder; text: string }>();
  #failed = false;

  private constructor(
    out: WriteStream,
    private readonly now: () => Date,
  ) {
    this.#out = out;
  }

  static async open(path: string, options: StageLogOptions): Promise<StageLog> {
    const handle = await openPrivateFile(path, 'append', options.label);
    const log = new StageLog(handle.createWriteStream(), options.now);
    log.#out.on('error', (error) => {
      if (log.#failed) return;
      log.#failed = true;
      options.onWriteError?.(error);
    });
    return log;
  }

  /** The last output lines (stdout and stderr, not the runner's notes), oldest first. */
  get tail(): string[] {
    return [...this.#tail];
  }

  /** Writes one whole line. */
  line(stream: LogStream, text: string): void {
    const line = `${this.now().toISOString()} ${stream} ${text}`;
    if (!this.#failed && !this.#out.destroyed) this.#out.write(`${line}\n`);
    if (stream === 'runner') return;
    this.#tail.push(line.length > TAIL_LINE_CHARS ? `${line.slice(0, TAIL_LINE_CHARS)}…` : line);
    if (this.#tail.length > TAIL_LINES) this.#tail.shift();
  }

  /** Feeds raw output of a stream; complete lines are written at once, a partial one waits for its end. */
  write(stream: Exclude<LogStream, 'runner'>, chunk: Buffer): void {
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

  /** Flushes, then closes the file: everything is on disk when it resolves. */
  async close(): Promise<void> {
    this.flushPartialLines();
    if (this.#out.closed) return;
    const closed = once(this.#out, 'close').catch(() => {}); // a write error also ends in 'close'
    if (!this.#out.destroyed) this.#out.end();
    await closed;
  }
}

/** Appends one `runner` note to a stage's log, with the same refusals as `StageLog.open`. */
export async function appendLogNote(path: string, label: string, ts: Date, note: string): Promise<void> {
  const handle = await openPrivateFile(path, 'append', label);
  try {
    await handle.write(`${ts.toISOString()} runner ${note}\n`);
  } finally {
    await handle.close();
  }
}
