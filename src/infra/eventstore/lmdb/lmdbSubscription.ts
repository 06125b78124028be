import { setImmediate as nextTurn } from 'node:timers/promises';
import type { RecordedEvent, Subscription, SubscriptionItem } from '../eventStore.ts';
import type { AppendTail } from './appendTail.ts';

export interface CursorBatch {
  events: RecordedEvent[];
  /** Set when the read reached the end of the log: the head position in that same read. */
  end?: { head: string | null };
}

/** Where a subscription reads from; it keeps its own cursor, just past the last entry it scanned. */
export interface SubscriptionCursor {
  /** Reads up to `limit` entries after the cursor, synchronously, and moves the cursor past them. */
  readBatch(limit: number): CursorBatch;
}

/**
 * A catch-up subscription that reads only when its consumer pulls: history and live tail are the same loop
 * ("read from my cursor to the end, then wait for a wake-up"), so the switch can neither skip nor repeat an
 * event, and memory is one batch. The wake-up generation is noted before each read, so a commit landing
 * between the read and the wait is never missed.
 */
export class LmdbSubscription implements Subscription {
  readonly #abort = new AbortController();
  readonly #items: AsyncGenerator<SubscriptionItem, void, undefined>;
  #closing: Promise<void> | undefined;

  constructor(
    cursor: SubscriptionCursor,
    private readonly tail: AppendTail,
    batchSize: number,
    private readonly onClose: (s: LmdbSubscription) => void,
  ) {
    this.#items = this.#run(cursor, batchSize);
  }

  [Symbol.asyncIterator](): AsyncIterator<SubscriptionItem> {
    return {
      next: () => this.#items.next(),
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  /** Ends the iteration: a pending `next()` (even one waiting for new events) resolves `done`. Idempotent. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#abort.abort();
      this.onClose(this);
      this.#closing = this.#items.return(undefined).then(() => undefined);
    }
    return this.#closing;
  }

  async *#run(
    cursor: SubscriptionCursor,
    batchSize: number,
  ): AsyncGenerator<SubscriptionItem, void, undefined> {
    const signal = this.#abort.signal;
    let caughtUp = false;
    while (!signal.aborted) {
      const generation = this.tail.generation;
      const { events, end } = cursor.readBatch(batchSize);
      for (const event of events) {
        yield { kind: 'event', event };
        if (signal.aborted) return;
      }
      if (end === undefined) {
        await nextTurn(); // a long history must not starve the process's I/O
      } else if (!caughtUp) {
        caughtUp = true;
        yield { kind: 'caught_up', position: end.head };
      } else if (events.length === 0) {
        await this.tail.wait(generation, signal);
      }
    }
  }
}
