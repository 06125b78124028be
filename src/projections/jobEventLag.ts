import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX } from '../infra/eventstore/eventStore.ts';
import { comparePositions } from './positions.ts';

interface Counted {
  checkpoint: string | null;
  head: string;
  count: number;
}

/**
 * The exact number of job events after the projections' checkpoint, up to the store head: what
 * `operator_projection_lag_events` and `/status/ops` report. Not the difference of positions, on either
 * store: the head also moves with events the projections do not follow (lease renewals, webhook registry
 * and checkpoints), and on EventStoreDB a position is an offset in the server's log, not a count.
 *
 * Counting is a scan of the job events in a range, so only the first count scans the whole lag: later
 * ones take the last count, minus the job events the checkpoint moved past and plus those the head moved
 * past since, each scanned once. Events retention hid in between are corrected once the lag is small
 * again (`recountUnder`), when it is counted afresh.
 */
export class JobEventLag {
  #last: Counted | null = null;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: EventStore,
    private readonly recountUnder = 1000,
  ) {}

  /** Job events after `checkpoint` (null: from the start) up to `head` (null: an empty store). */
  count(checkpoint: string | null, head: string | null): Promise<number> {
    const counted = this.#queue.then(() => this.#count(checkpoint, head));
    this.#queue = counted.catch(() => {});
    return counted;
  }

  async #count(checkpoint: string | null, head: string | null): Promise<number> {
    if (head === null || (checkpoint !== null && comparePositions(checkpoint, head) >= 0)) {
      this.#last = null;
      return 0;
    }
    const last = this.#last;
    let count = -1;
    if (last && follows(last, checkpoint, head)) {
      const applied =
        checkpoint === null || checkpoint === last.checkpoint
          ? 0
          : await countJobEvents(this.store, last.checkpoint, checkpoint);
      count = last.count - applied + (await countJobEvents(this.store, last.head, head));
    }
    if (count < 0 || count <= this.recountUnder) count = await countJobEvents(this.store, checkpoint, head);
    this.#last = { checkpoint, head, count };
    return count;
  }
}

/** Both ends moved forwards (or stayed), and the checkpoint is still before the last head. */
function follows(last: Counted, checkpoint: string | null, head: string): boolean {
  if (comparePositions(head, last.head) < 0) return false;
  if (checkpoint === null) return last.checkpoint === null;
  if (last.checkpoint !== null && comparePositions(checkpoint, last.checkpoint) < 0) return false;
  return comparePositions(checkpoint, last.head) < 0;
}

/** Job events after `after` (null: from the start) up to and including `upTo`. */
export async function countJobEvents(
  store: EventStore,
  after: string | null,
  upTo: string,
  cap = Number.POSITIVE_INFINITY,
): Promise<number> {
  if (after !== null && comparePositions(after, upTo) >= 0) return 0;
  let count = 0;
  // `fromPosition` is inclusive: the event at `after` itself is skipped.
  for await (const event of store.readAll({
    fromPosition: after ?? 'start',
    ...(Number.isFinite(cap) ? { maxCount: cap + 1 } : {}),
    filter: { streamNamePrefix: [JOB_STREAM_PREFIX] },
  })) {
    if (comparePositions(event.position, upTo) > 0) break;
    if (event.position !== after) count++;
    if (count >= cap) break;
  }
  return count;
}
