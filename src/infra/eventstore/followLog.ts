import type { RetryBackoff } from '../retryDelay.ts';
import { pause, RetryDelay } from '../retryDelay.ts';
import type {
  EventStore,
  RecordedEvent,
  StreamFilter,
  Subscription,
  SubscriptionItem,
} from './eventStore.ts';
import { LogBatchFeed } from './logBatchFeed.ts';

/** A stretch of the log, in log order. */
export interface LogBatch<T = RecordedEvent> {
  /** The events as `decode` made them (those it skipped left out); empty when the batch only says that the end of the log was reached. */
  events: T[];
  /** The position of the last event read into this batch, skipped ones included; null when it read none. */
  last: string | null;
  /**
   * Set when the follow reached the end of the log right after `events`: the store's head then (`null`:
   * the store was empty). Comes once per store subscription, so again after a store error.
   */
  caughtUp?: { position: string | null };
}

/** The batches of a follow; `return()` (a `break` out of `for await`) ends it as aborting its signal does. */
export interface LogFollow<T> extends AsyncIterableIterator<LogBatch<T>> {
  next(): Promise<IteratorResult<LogBatch<T>, undefined>>;
  return(): Promise<IteratorResult<LogBatch<T>, undefined>>;
}

export interface FollowOptions<T> {
  /**
   * Turns each event into what the consumer takes, or `undefined` to skip it. It runs as events are read;
   * an error it throws counts as a store error (the follow reopens at that event after a wait), so an
   * unreadable event is retried, never skipped unnoticed. Default: the recorded event itself.
   */
  decode?: (event: RecordedEvent) => T | undefined;
  /** Ends the iteration: a pending `next()` resolves `done`, and events read but not yet handed out are dropped. */
  signal: AbortSignal;
  /** Waits between store subscriptions after a store error; default 100 ms .. 10 s. */
  backoff?: RetryBackoff;
  /** Most events in one batch; default 500. */
  maxBatch?: number;
  /** Told of each store error, before the wait. */
  onError?: (error: unknown, retryInMs: number) => void;
}

export interface FollowLogOptions<T = RecordedEvent> extends FollowOptions<T> {
  /** Exclusive: events after this position. `'start'` (default) or `'end'` (only what comes next). */
  from?: string | 'start' | 'end';
  filter?: StreamFilter;
}

export interface FollowStreamOptions<T = RecordedEvent> extends FollowOptions<T> {
  /** Exclusive: events after this revision. `'start'` (default) or `'end'`. */
  from?: number | 'start' | 'end';
}

/**
 * Follows `$all` from a position for as long as `signal` allows: the history in batches, a batch marked
 * `caughtUp`, then live events in batches. A batch is handed out when the store has nothing more ready
 * (the end of the event-loop turn), when it is full, or at the end of the log; while the consumer works on
 * one, the next fills (at most `maxBatch` events are read ahead). After a quiet spell the first live commit
 * goes out at once, all its events in one batch. A store error reopens the subscription after the last event
 * read, after a wait (capped doubling, reset by progress): nothing is skipped or repeated.
 */
export function followLog<T = RecordedEvent>(store: EventStore, options: FollowLogOptions<T>): LogFollow<T> {
  let from = options.from ?? 'start';
  const filter = options.filter ? { filter: options.filter } : {};
  return follow(
    () => store.subscribeToAll({ fromPosition: from, ...filter }),
    (item) => {
      from = positionAfter(from, item);
    },
    options,
  );
}

/** {@link followLog} for one stream, by revision. */
export function followStream<T = RecordedEvent>(
  store: EventStore,
  stream: string,
  options: FollowStreamOptions<T>,
): LogFollow<T> {
  let from = options.from ?? 'start';
  return follow(
    () => store.subscribeToStream(stream, { fromRevision: from }),
    (item) => {
      if (item.kind === 'event') from = item.event.revision;
    },
    options,
  );
}

/** Where to reopen after `item`: its position, or the head at the end of the log (filtered-out events). */
function positionAfter(from: string, item: SubscriptionItem): string {
  if (item.kind === 'event') return item.event.position;
  if (item.position === null) return from === 'end' ? 'start' : from;
  if (from === 'start' || from === 'end') return item.position;
  return isAfter(item.position, from) ? item.position : from;
}

/** Positions are decimal strings without leading zeros: a longer one is larger. */
function isAfter(a: string, b: string): boolean {
  return a.length !== b.length ? a.length > b.length : a > b;
}

function follow<T>(
  open: () => Subscription,
  advance: (item: SubscriptionItem) => void,
  options: FollowOptions<T>,
): LogFollow<T> {
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  if (options.signal.aborted) stop.abort();
  else options.signal.addEventListener('abort', onAbort, { once: true });
  const feed = new LogBatchFeed<T>(options.maxBatch ?? 500, stop.signal);
  const reading = read(open, advance, feed, stop.signal, options).finally(() =>
    options.signal.removeEventListener('abort', onAbort),
  );
  feed.ended = reading.then(() => ({ done: true, value: undefined }));
  // A plain iterator, not an async generator: a batch reaches the consumer without the generator's hops.
  return {
    next: () => feed.take(),
    return: () => {
      stop.abort();
      return feed.ended;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** Reads the store into `feed` until `signal` aborts, reopening after errors. */
async function read<T>(
  open: () => Subscription,
  advance: (item: SubscriptionItem) => void,
  feed: LogBatchFeed<T>,
  signal: AbortSignal,
  options: FollowOptions<T>,
): Promise<void> {
  const delay = new RetryDelay(options.backoff);
  const decode = options.decode ?? ((event: RecordedEvent) => event as T);
  while (!signal.aborted) {
    let subscription: Subscription | undefined;
    const close = () => void subscription?.close().catch(() => {});
    signal.addEventListener('abort', close, { once: true });
    let waitMs: number;
    try {
      subscription = open();
      feed.reopened();
      for await (const item of subscription) {
        if (signal.aborted) break;
        // Decoded before the cursor moves: an event that cannot be read is read again after the wait.
        const decoded = item.kind === 'event' ? decode(item.event) : undefined;
        advance(item);
        delay.reset();
        // A promise only when the batch is full or ends the log: none per event.
        const handedOver =
          item.kind === 'event' ? feed.push(decoded, item.event.position) : feed.end(item.position);
        if (handedOver) await handedOver;
      }
      waitMs = delay.next(); // the store ended the subscription (it is closing): try again later
    } catch (error) {
      waitMs = delay.next();
      if (!signal.aborted) report(options, error, waitMs);
    } finally {
      signal.removeEventListener('abort', close);
      await subscription?.close().catch(() => {});
    }
    if (!signal.aborted) await pause(waitMs, signal);
  }
}

function report<T>(options: FollowOptions<T>, error: unknown, retryInMs: number): void {
  try {
    options.onError?.(error, retryInMs);
  } catch {
    // a logger that throws must not end the follow
  }
}
