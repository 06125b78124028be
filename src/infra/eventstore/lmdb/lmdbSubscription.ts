import { setImmediate as nextTurn } from 'node:timers/promises';
import type { RecordedEvent, SubscriptionItem } from '../eventStore.ts';
import { PulledSubscription } from '../pulledSubscription.ts';
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
export class LmdbSubscription extends PulledSubscription {
  constructor(
    private readonly cursor: SubscriptionCursor,
    private readonly tail: AppendTail,
    private readonly batchSize: number,
    onClose: (s: LmdbSubscription) => void,
  ) {
    super(() => onClose(this));
  }

  protected async *run(signal: AbortSignal): AsyncGenerator<SubscriptionItem, void, undefined> {
    const { cursor, batchSize } = this;
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
