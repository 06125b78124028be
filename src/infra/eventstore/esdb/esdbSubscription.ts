import { setTimeout as sleep } from 'node:timers/promises';
import type { RecordedEvent, SubscriptionItem } from '../eventStore.ts';
import { PulledSubscription } from '../pulledSubscription.ts';
import type { BackoffOptions } from './backoff.ts';
import { backoffDelay } from './backoff.ts';
import { AbortedError } from './clientStreams.ts';
import { isTransientError, LiveFeedEndedError } from './esdbErrors.ts';

/** One event read by a subscription: where it leaves the checkpoint, and the event if it is delivered. */
export interface Step<C> {
  checkpoint: C;
  /** Absent for events the subscription skips (system events, other prefixes, retention). */
  event?: RecordedEvent;
}

export interface HistoryPage<C> {
  steps: Step<C>[];
  /** The read reached the end of what exists now. */
  end: boolean;
  /** With `end`: the store's head position to report in `caught_up`. */
  head?: string | null;
}

export interface LiveFeed<C> {
  /** The next event of the server's subscription; rejects when the call breaks. */
  next(signal: AbortSignal): Promise<Step<C> | undefined>;
  close(): Promise<void>;
}

/**
 * Where a subscription reads from. Checkpoints are exclusive: `null` means "before the first event".
 */
export interface CatchUpSource<C> {
  /** The checkpoint the consumer asked for (resolving `end` needs a read). */
  initial(signal: AbortSignal): Promise<C | null>;
  /** One bounded page of history strictly after the checkpoint. */
  history(after: C | null, signal: AbortSignal): Promise<HistoryPage<C>>;
  /** A server-side subscription strictly after the checkpoint. */
  live(after: C | null): LiveFeed<C>;
  /** A fresh catch-up pass begins (after the start or a drop). */
  beginPass(): void;
}

export interface RetryInfo {
  attempt: number;
  delayMs: number;
  error: unknown;
}

export interface EsdbSubscriptionOptions {
  backoff?: BackoffOptions;
  /** Told about every resubscription (for logs and metrics). */
  onRetry?: (info: RetryInfo) => void;
}

/**
 * A catch-up subscription pulled by its consumer. History is read in bounded pages only when the
 * consumer asks for more; once a page comes back short the subscription yields `caught_up` (once in its
 * life) and switches to a server-side subscription from its checkpoint, which the server starts
 * exclusively, so the switch neither skips nor repeats an event. The client buffers a few events of a
 * live subscription at most: HTTP/2 flow control holds the server back while the consumer is slow.
 *
 * When the connection drops (server restart, leader change), it waits with capped exponential backoff and
 * resumes from the last event it delivered or skipped — through a new history pass, so retention is
 * applied to what it missed — without a second `caught_up`. Errors that retrying cannot fix (a deleted
 * stream, an invalid position, access denied) end the iteration by throwing.
 */
export class EsdbSubscription<C> extends PulledSubscription {
  constructor(
    private readonly source: CatchUpSource<C>,
    private readonly options: EsdbSubscriptionOptions = {},
    onClose: (s: EsdbSubscription<C>) => void = () => {},
  ) {
    super(() => onClose(this));
  }

  protected async *run(signal: AbortSignal): AsyncGenerator<SubscriptionItem, void, undefined> {
    const { source } = this;
    let checkpoint: C | null | undefined;
    let caughtUp = false;
    let attempt = 0;
    while (!signal.aborted) {
      try {
        if (checkpoint === undefined) checkpoint = await source.initial(signal);
        source.beginPass();
        for (;;) {
          const page = await source.history(checkpoint, signal);
          attempt = 0;
          for (const step of page.steps) {
            checkpoint = step.checkpoint;
            if (step.event) yield { kind: 'event', event: step.event };
          }
          if (!page.end) continue;
          if (!caughtUp) {
            caughtUp = true;
            yield { kind: 'caught_up', position: page.head ?? null };
          }
          break;
        }
        const feed = source.live(checkpoint);
        try {
          for (;;) {
            const step = await feed.next(signal);
            if (step === undefined) throw new LiveFeedEndedError();
            attempt = 0;
            checkpoint = step.checkpoint;
            if (step.event) yield { kind: 'event', event: step.event };
          }
        } finally {
          await feed.close();
        }
      } catch (error) {
        if (signal.aborted || error instanceof AbortedError) return;
        if (!isTransientError(error)) throw error;
        attempt += 1;
        const delayMs = backoffDelay(attempt, this.options.backoff);
        this.options.onRetry?.({ attempt, delayMs, error });
        try {
          await sleep(delayMs, undefined, { signal });
        } catch {
          return;
        }
      }
    }
  }
}
