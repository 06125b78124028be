import type { LogLine } from '../domain/logRecord.ts';
import { logLineBytes, outputCutNote } from '../domain/logRecord.ts';

export interface LogBatcherOptions {
  /** A batch is handed over once it has this many lines... */
  maxLines: number;
  /** ...or this many bytes (line format)... */
  maxBytes: number;
  /** ...or this long after its first line, whichever comes first. */
  windowMs: number;
  /** `runner.max_log_bytes`: bytes the attempt's log may take; output past it is dropped. */
  maxLogBytes: number;
  /** Stamps the cut marker. */
  now: () => Date;
  /** Takes each batch, in order. */
  emit: (lines: LogLine[], bytes: number) => void;
  /** Real time by default: the window is about latency, whatever clock stamps the lines. */
  setTimer?: (ms: number, fn: () => void) => () => void;
}

export const DEFAULT_BATCH = { maxLines: 64, maxBytes: 16 * 1024, windowMs: 50 } as const;

const realTimer = (ms: number, fn: () => void): (() => void) => {
  const timer = setTimeout(fn, ms);
  return () => clearTimeout(timer);
};

/**
 * Groups an attempt's log lines into batches (by lines, bytes and a short window), so a chatty stage makes
 * few appends, and enforces the attempt's byte cap: the output line that would pass it is replaced by one
 * marker line, and every later output line is dropped (counted, not kept). The runner's own notes are
 * always kept: they are few and say how the attempt ended.
 */
export class LogBatcher {
  readonly #options: LogBatcherOptions;
  readonly #setTimer: (ms: number, fn: () => void) => () => void;
  #pending: LogLine[] = [];
  #pendingBytes = 0;
  #cancelTimer: (() => void) | null = null;
  #bytes = 0;
  #cut = false;
  #droppedBytes = 0;

  constructor(options: LogBatcherOptions) {
    this.#options = options;
    this.#setTimer = options.setTimer ?? realTimer;
  }

  /** Bytes of log kept for the attempt so far (marker included). */
  get bytes(): number {
    return this.#bytes;
  }

  /** True once the cap cut the output. */
  get cut(): boolean {
    return this.#cut;
  }

  /** Output bytes dropped after the cut (line format). */
  get droppedBytes(): number {
    return this.#droppedBytes;
  }

  /** Adds a line; false when it was dropped by the cap. */
  add(line: LogLine): boolean {
    const size = logLineBytes(line);
    if (line.stream !== 'runner') {
      if (this.#cut) {
        this.#droppedBytes += size;
        return false;
      }
      if (this.#bytes + size > this.#options.maxLogBytes) {
        this.#cut = true;
        this.#droppedBytes += size;
        this.#push({
          ts: this.#options.now().toISOString(),
          stream: 'runner',
          text: outputCutNote(this.#options.maxLogBytes),
        });
        return false;
      }
    }
    this.#push(line);
    return true;
  }

  /** Hands over what is pending now (the attempt ends, or a reader wants it). */
  flush(): void {
    this.#cancelTimer?.();
    this.#cancelTimer = null;
    if (this.#pending.length === 0) return;
    const lines = this.#pending;
    const bytes = this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#options.emit(lines, bytes);
  }

  #push(line: LogLine): void {
    const size = logLineBytes(line);
    this.#bytes += size;
    this.#pending.push(line);
    this.#pendingBytes += size;
    if (this.#pending.length >= this.#options.maxLines || this.#pendingBytes >= this.#options.maxBytes) {
      this.flush();
      return;
    }
    this.#cancelTimer ??= this.#setTimer(this.#options.windowMs, () => {
      this.#cancelTimer = null;
      this.flush();
    });
  }
}
