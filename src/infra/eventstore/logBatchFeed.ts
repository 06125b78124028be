import type { LogBatch } from './followLog.ts';

/**
 * The hand-over between the reader of a store subscription and the consumer of `followLog`. The reader
 * pushes events one by one without awaiting anything (no promise per event); the consumer takes the whole
 * batch in hand once it is due: at the end of the event-loop turn it began in (nothing more was ready), when
 * it is full, or when it ends the log. A full or ending batch holds the reader until it is taken.
 */
export class LogBatchFeed<T> {
  #events: T[] = [];
  #last: string | null = null;
  /** Events read into the batch in hand, skipped ones included. */
  #read = 0;
  #caughtUp: { position: string | null } | undefined;
  #due = false;
  #turnPending = false;
  /** The subscription has reached the end of the log: events now come as they are appended. */
  #live = false;
  #taker: (() => void) | undefined;
  #room: (() => void) | undefined;

  constructor(
    private readonly maxBatch: number,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener(
      'abort',
      () => {
        this.#wakeTaker();
        this.#makeRoom();
      },
      { once: true },
    );
  }

  /**
   * Adds an event read at `position` (`undefined`: read but skipped); a promise (resolved once the batch is
   * taken) only when the batch is full.
   */
  push(event: T | undefined, position: string): Promise<void> | undefined {
    const quiet = this.#read === 0 && !this.#turnPending;
    if (event !== undefined) this.#events.push(event);
    this.#last = position;
    if (++this.#read >= this.maxBatch) return this.#handOver();
    if (quiet && this.#live && this.#taker !== undefined) {
      // The first live event after a quiet spell goes out now; the rest of this turn's follow in one batch.
      this.#due = true;
      this.#wakeTaker();
    }
    this.#armTurn();
    return undefined;
  }

  /** The subscription reached the end of the log at `position`: the batch is due; resolves once taken. */
  end(position: string | null): Promise<void> {
    this.#caughtUp = { position };
    this.#live = true;
    return this.#handOver();
  }

  /** A new subscription starts: it reads history until it reports the end of the log again. */
  reopened(): void {
    this.#live = false;
  }

  /** The next batch once it is due; null once the signal aborted. */
  async take(): Promise<LogBatch<T> | null> {
    while (!this.signal.aborted) {
      if (this.#due && (this.#read > 0 || this.#caughtUp !== undefined)) {
        const batch: LogBatch<T> =
          this.#caughtUp === undefined
            ? { events: this.#events, last: this.#last }
            : { events: this.#events, last: this.#last, caughtUp: this.#caughtUp };
        this.#events = [];
        this.#last = null;
        this.#read = 0;
        this.#caughtUp = undefined;
        this.#due = false;
        this.#makeRoom();
        return batch;
      }
      await new Promise<void>((resolve) => {
        this.#taker = resolve;
      });
    }
    return null;
  }

  #handOver(): Promise<void> {
    this.#due = true;
    this.#wakeTaker();
    if (this.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      this.#room = resolve;
    });
  }

  #armTurn(): void {
    if (this.#turnPending) return;
    this.#turnPending = true;
    setImmediate(this.#turnEnded);
  }

  readonly #turnEnded = (): void => {
    this.#turnPending = false;
    if (this.#read === 0) return;
    this.#due = true;
    this.#wakeTaker();
  };

  #wakeTaker(): void {
    const wake = this.#taker;
    this.#taker = undefined;
    wake?.();
  }

  #makeRoom(): void {
    const room = this.#room;
    this.#room = undefined;
    room?.();
  }
}
