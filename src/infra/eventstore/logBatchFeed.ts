import type { LogBatch } from './followLog.ts';

export type LogBatchResult<T> = IteratorResult<LogBatch<T>, undefined>;

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

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
  #taker: ((result: LogBatchResult<T> | Promise<LogBatchResult<T>>) => void) | undefined;
  #room: (() => void) | undefined;
  /** What `take` answers once the signal aborted: done, once the reader has closed its subscription. */
  ended: Promise<LogBatchResult<T>> = Promise.resolve(DONE);

  constructor(
    private readonly maxBatch: number,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener(
      'abort',
      () => {
        this.#wake();
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
      // After a quiet spell the batch goes out as soon as the reader has pushed what the store had ready (the
      // rest of the commit: the reader's hops are microtasks, and a tick queued from one runs once they are
      // done), not at the end of the turn; handing out the first event alone split each commit in two.
      process.nextTick(this.#readyNow);
    }
    this.#armTurn();
    return undefined;
  }

  /** The subscription reached the end of the log at `position`: the batch is due; a promise until it is taken. */
  end(position: string | null): Promise<void> | undefined {
    this.#caughtUp = { position };
    this.#live = true;
    return this.#handOver();
  }

  /** A new subscription starts: it reads history until it reports the end of the log again. */
  reopened(): void {
    this.#live = false;
  }

  /** The next batch once it is due; done once the signal aborted. */
  take(): Promise<LogBatchResult<T>> {
    if (this.signal.aborted) return this.ended;
    const batch = this.#takeDue();
    if (batch) return Promise.resolve({ done: false, value: batch });
    return new Promise((resolve) => {
      this.#taker = resolve;
    });
  }

  #takeDue(): LogBatch<T> | undefined {
    if (!this.#due || (this.#read === 0 && this.#caughtUp === undefined)) return undefined;
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

  /** Hands the batch to a waiting consumer if it is due (or the end if the signal aborted). */
  #wake(): void {
    const taker = this.#taker;
    if (taker === undefined) return;
    if (this.signal.aborted) {
      this.#taker = undefined;
      taker(this.ended);
      return;
    }
    const batch = this.#takeDue();
    if (batch === undefined) return;
    this.#taker = undefined;
    taker({ done: false, value: batch });
  }

  #handOver(): Promise<void> | undefined {
    this.#due = true;
    this.#wake();
    const taken = this.#read === 0 && this.#caughtUp === undefined;
    if (taken || this.signal.aborted) return undefined;
    return new Promise((resolve) => {
      this.#room = resolve;
    });
  }

  #armTurn(): void {
    if (this.#turnPending) return;
    this.#turnPending = true;
    setImmediate(this.#turnEnded);
  }

  readonly #readyNow = (): void => {
    if (this.#read === 0) return;
    this.#due = true;
    this.#wake();
  };

  readonly #turnEnded = (): void => {
    this.#turnPending = false;
    if (this.#read === 0) return;
    this.#due = true;
    this.#wake();
  };

  #makeRoom(): void {
    const room = this.#room;
    this.#room = undefined;
    room?.();
  }
}
