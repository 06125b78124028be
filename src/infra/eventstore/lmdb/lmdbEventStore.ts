import type {
  AppendOptions,
  AppendResult,
  EventData,
  EventStore,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StreamMetadata,
  SubscribeToAllOptions,
  SubscribeToStreamOptions,
  Subscription,
} from '../eventStore.ts';
import {
  EventStoreClosedError,
  InvalidEventStoreArgumentError,
  WrongExpectedRevisionError,
} from '../storeErrors.ts';
import { type AppendListener, AppendTail } from './appendTail.ts';
import { encodeEvent } from './eventRecord.ts';
import { appendInTransaction } from './lmdbAppend.ts';
import { type LmdbLayout, readHead, streamStateOf } from './lmdbLayout.ts';
import { readAllEvents, readStreamEvents, type StoreReader } from './lmdbReads.ts';
import { LmdbSubscription, type SubscriptionCursor } from './lmdbSubscription.ts';
import { formatHead, formatPosition, parsePosition } from './positions.ts';
import {
  assertExpectedRevision,
  assertPrefixes,
  assertStreamMetadata,
  assertStreamName,
  revisionOption,
} from './storeArguments.ts';
import { metadataOf, NEW_STREAM, withMetadata } from './streamState.ts';
import { AllCursor, StreamCursor } from './subscriptionCursors.ts';
import { writeTransaction } from './writeTransaction.ts';

export interface LmdbEventStoreSettings {
  /** Time source for `created` and for `maxAge`. */
  clock: () => Date;
  /** Entries read per cursor scan by reads and subscriptions: the memory bound of one reader. */
  batchSize: number;
  /** How often waiting subscriptions look for commits made by other processes. */
  pollIntervalMs: number;
}

/** Counters for tests, the bench and metrics. `appends / appendTransactions` is the group-commit factor. */
export interface LmdbEventStoreStats {
  /** `append()` calls that reached a write transaction (expected-revision conflicts included). */
  appends: number;
  /** Distinct LMDB write transactions those appends ran in. */
  appendTransactions: number;
  /** LMDB's id of the last committed write transaction of the environment (any process, any write). */
  lastTxnId: number;
}

export interface WaitForAppendOptions {
  /** Give up after this long and resolve with the current head. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * The embedded event store: one LMDB environment, one global position sequence, group commit, durable
 * acknowledgements. Open it with `openLmdbEventStore`; one instance per path per process.
 */
export class LmdbEventStore implements EventStore {
  readonly #tail: AppendTail;
  readonly #subscriptions = new Set<LmdbSubscription>();
  #closing: Promise<void> | undefined;
  #appends = 0;
  #appendTransactions = 0;
  #lastAppendTxnId = -1;
  /** The last position an append of this store wrote (inside its transaction, before the commit). */
  #headHint: number | undefined;

  constructor(
    private readonly layout: LmdbLayout,
    private readonly settings: LmdbEventStoreSettings,
  ) {
    this.#tail = new AppendTail(() => {
      layout.root.resetReadTxn(); // see other processes' commits
      return readHead(layout);
    }, settings.pollIntervalMs);
  }

  /**
   * Resolves once the events are committed and synced to disk, so an acknowledged append survives `kill -9`
   * and power loss. Appends made in the same event-loop turn, or while the previous commit is syncing,
   * share one write transaction (group commit). On an expected-revision mismatch nothing is written.
   */
  async append(
    stream: string,
    events: readonly EventData[],
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    this.#assertOpen();
    assertStreamName(stream);
    const expected = options.expectedRevision ?? 'any';
    assertExpectedRevision(expected);
    if (!Array.isArray(events) || events.length === 0)
      throw new InvalidEventStoreArgumentError('append needs at least one event');
    const encoded = events.map(encodeEvent);
    const streamJson = JSON.stringify(stream);
    const outcome = await writeTransaction(this.layout.root, () => {
      this.#countTransaction();
      const result = appendInTransaction(this.layout, () => this.settings.clock(), {
        stream,
        streamJson,
        expected,
        events: encoded,
        headHint: this.#headHint,
      });
      if (result.kind === 'appended') this.#headHint = result.position;
      return result;
    });
    if (outcome.kind === 'conflict') throw new WrongExpectedRevisionError(stream, expected, outcome.actual);
    this.#tail.appended(outcome.position);
    return { nextRevision: outcome.revision, position: formatPosition(outcome.position) };
  }

  readStream(stream: string, options: ReadStreamOptions = {}): AsyncGenerator<RecordedEvent, void> {
    return readStreamEvents(this.#reader(), stream, options);
  }

  readAll(options: ReadAllOptions = {}): AsyncGenerator<RecordedEvent, void> {
    return readAllEvents(this.#reader(), options);
  }

  subscribeToStream(stream: string, options: SubscribeToStreamOptions = {}): Subscription {
    this.#assertOpen();
    assertStreamName(stream);
    const from = revisionOption(options.fromRevision, 'start');
    const next =
      from === 'start'
        ? 0
        : from === 'end'
          ? (streamStateOf(this.layout, stream) ?? NEW_STREAM).lastRevision + 1
          : from + 1;
    return this.#subscribe(new StreamCursor(this.layout, () => this.#nowMs(), stream, next));
  }

  subscribeToAll(options: SubscribeToAllOptions = {}): Subscription {
    this.#assertOpen();
    const prefixes = options.filter?.streamNamePrefix;
    assertPrefixes(prefixes);
    const from = options.fromPosition ?? 'start';
    const next =
      from === 'start' ? 0 : from === 'end' ? (readHead(this.layout) ?? -1) + 1 : parsePosition(from) + 1;
    return this.#subscribe(new AllCursor(this.layout, () => this.#nowMs(), next, prefixes));
  }

  async getStreamMetadata(stream: string): Promise<StreamMetadata> {
    this.#assertOpen();
    assertStreamName(stream);
    return metadataOf(streamStateOf(this.layout, stream) ?? NEW_STREAM);
  }

  /** Replaces the stream's retention metadata as a whole; the stream need not exist yet. */
  async setStreamMetadata(stream: string, metadata: StreamMetadata): Promise<void> {
    this.#assertOpen();
    assertStreamName(stream);
    assertStreamMetadata(metadata);
    await writeTransaction(this.layout.root, () => {
      const state = streamStateOf(this.layout, stream) ?? NEW_STREAM;
      this.layout.streams.put(stream, withMetadata(state, metadata));
    });
  }

  /**
   * Soft delete, as EventStoreDB's: every event written so far is hidden from all reads and subscriptions;
   * metadata is kept; an append (`no_stream`, `any`, or the last revision) recreates the stream and its
   * revisions continue where they stopped. Deleting a missing or already deleted stream does nothing.
   */
  async deleteStream(stream: string): Promise<void> {
    this.#assertOpen();
    assertStreamName(stream);
    await writeTransaction(this.layout.root, () => {
      const state = streamStateOf(this.layout, stream);
      if (state === undefined || state.lastRevision < 0) return;
      this.layout.streams.put(stream, { ...state, truncateBefore: state.lastRevision + 1 });
    });
  }

  async headPosition(): Promise<string | null> {
    this.#assertOpen();
    return formatHead(readHead(this.layout));
  }

  /**
   * Calls `listener` with the new head position after events are appended: at once for this process's
   * commits (several commits of one turn make one call), within `pollIntervalMs` for other processes'.
   * Polling runs while a listener is registered and keeps the process alive: call the returned function
   * to stop. A listener must not throw (a throw is reported as a process warning).
   */
  onAppended(listener: AppendListener): () => void {
    this.#assertOpen();
    return this.#tail.onAppended(listener);
  }

  /**
   * Resolves with the head position as soon as it is past `afterPosition` (`null`: any event), at once if it
   * already is; or with the current head when `timeoutMs` passes, `signal` aborts or the store closes.
   * Never rejects for those; the caller compares. Suited to long polls.
   */
  async waitForAppend(
    afterPosition: string | null,
    options: WaitForAppendOptions = {},
  ): Promise<string | null> {
    this.#assertOpen();
    const after = afterPosition === null ? -1 : parsePosition(afterPosition);
    const stop = new AbortController();
    const abort = (): void => stop.abort();
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(abort, options.timeoutMs);
    options.signal?.addEventListener('abort', abort, { once: true });
    if (options.signal?.aborted) abort();
    let head: number | undefined;
    try {
      while (this.#closing === undefined) {
        const generation = this.#tail.generation;
        head = readHead(this.layout);
        if ((head !== undefined && head > after) || stop.signal.aborted) break;
        await this.#tail.wait(generation, stop.signal);
      }
      return formatHead(head);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', abort);
    }
  }

  stats(): LmdbEventStoreStats {
    this.#assertOpen();
    const { lastTxnId } = this.layout.root.getStats() as { lastTxnId: number };
    return { appends: this.#appends, appendTransactions: this.#appendTransactions, lastTxnId };
  }

  /**
   * Ends every open subscription (their pending `next()` resolves `done`), stops polling, waits for the
   * appends already accepted to commit, then closes LMDB. Later calls on the store throw
   * `EventStoreClosedError`; calling `close()` again returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all([...this.#subscriptions].map((s) => s.close()));
      this.#tail.close();
      await this.layout.root.close();
    })();
    return this.#closing;
  }

  #countTransaction(): void {
    const txnId = this.layout.root.getWriteTxnId();
    this.#appends++;
    if (txnId !== this.#lastAppendTxnId) {
      this.#lastAppendTxnId = txnId;
      this.#appendTransactions++;
    }
  }

  #subscribe(cursor: SubscriptionCursor): Subscription {
    const subscription = new LmdbSubscription(cursor, this.#tail, this.settings.batchSize, (s) =>
      this.#subscriptions.delete(s),
    );
    this.#subscriptions.add(subscription);
    return subscription;
  }

  /** What the read loops need of the store: checked again before every batch, so a close stops them. */
  #reader(): StoreReader {
    return {
      layout: this.layout,
      batchSize: this.settings.batchSize,
      nowMs: () => this.#nowMs(),
      assertOpen: () => this.#assertOpen(),
    };
  }

  #nowMs(): number {
    return this.settings.clock().getTime();
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) throw new EventStoreClosedError();
  }
}
