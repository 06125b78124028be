import type { EventStoreDBClient } from '@eventstore/db-client';
import {
  BACKWARDS,
  END,
  FORWARDS,
  jsonEvent,
  START,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
} from '@eventstore/db-client';
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
import { EventStoreClosedError } from '../storeErrors.ts';
import type { BackoffOptions } from './backoff.ts';
import { iterateRead } from './clientStreams.ts';
import {
  assertEvents,
  assertPrefixes,
  assertStreamMetadata,
  assertStreamName,
  maxCountOption,
  revisionOption,
} from './esdbArguments.ts';
import type { RetryInfo } from './esdbSubscription.ts';
import { EsdbSubscription } from './esdbSubscription.ts';
import { toEsdbExpectedRevision, toPortAppendError } from './expectedRevision.ts';
import { formatPosition, parsePosition } from './positions.ts';
import { headPositionOf, readAllVisible } from './readAllVisible.ts';
import { recordedOf, toPortEvent } from './recordedEvent.ts';
import { getRetention, setRetention } from './streamMetadata.ts';
import type { SourceContext } from './subscriptionSources.ts';
import { AllSource, StreamSource } from './subscriptionSources.ts';

export interface EsdbEventStoreSettings {
  /** Events per read of `$all` and per history page of a subscription: one reader's memory bound. */
  pageSize: number;
  /** Resubscription delays after a dropped subscription. */
  backoff: BackoffOptions;
  onSubscriptionRetry?: (info: RetryInfo & { subscription: 'all' | 'stream' }) => void;
}

/**
 * The event store port over EventStoreDB (or KurrentDB) through its official gRPC client. Appends are
 * atomic per call and guarded by the server's expected-revision check; reads and subscriptions skip
 * EventStoreDB's own `$` streams and events, and apply each stream's retention to `$all` as well, as the
 * port promises. Open it with `openEsdbEventStore`.
 */
export class EsdbEventStore implements EventStore {
  readonly #subscriptions = new Set<EsdbSubscription<unknown>>();
  readonly #context: SourceContext;
  #closing: Promise<void> | undefined;

  constructor(
    private readonly client: EventStoreDBClient,
    private readonly settings: EsdbEventStoreSettings,
  ) {
    this.#context = {
      client,
      pageSize: settings.pageSize,
      headPosition: (signal) => headPositionOf(client, settings.pageSize, signal),
    };
  }

  /**
   * Resolves once the leader has committed the events (the server answers only then). A connection
   * failure rejects without retrying: whether the events were written is then unknown, and the caller's
   * next attempt with the same expected revision (or the same event ids) settles it.
   */
  async append(
    stream: string,
    events: readonly EventData[],
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    this.#assertOpen();
    assertStreamName(stream);
    assertEvents(events);
    const expected = options.expectedRevision ?? 'any';
    const expectedRevision = toEsdbExpectedRevision(expected);
    const proposed = events.map((e) =>
      jsonEvent({ id: e.id, type: e.type, data: e.data, ...(e.metadata ? { metadata: e.metadata } : {}) }),
    );
    try {
      const result = await this.client.appendToStream(stream, proposed, { expectedRevision });
      if (!result.position) throw new Error(`append to ${stream} was acknowledged without a position`);
      return { nextRevision: Number(result.nextExpectedRevision), position: formatPosition(result.position) };
    } catch (error) {
      throw toPortAppendError(error, stream, expected);
    }
  }

  async *readStream(stream: string, options: ReadStreamOptions = {}): AsyncGenerator<RecordedEvent, void> {
    this.#assertOpen();
    assertStreamName(stream);
    const direction = options.direction ?? 'forwards';
    const from = revisionOption(options.fromRevision, direction === 'forwards' ? 'start' : 'end');
    const maxCount = maxCountOption(options.maxCount);
    // The server refuses a read of zero events.
    if (maxCount === 0) return;
    const read = this.client.readStream(stream, {
      fromRevision: from === 'start' ? START : from === 'end' ? END : BigInt(from),
      direction: direction === 'forwards' ? FORWARDS : BACKWARDS,
      maxCount: Number.isFinite(maxCount) ? maxCount : Number.MAX_SAFE_INTEGER,
    });
    try {
      for await (const resolved of iterateRead(read)) {
        const r = recordedOf(resolved);
        if (r) yield toPortEvent(r);
      }
    } catch (error) {
      // Never written, or soft-deleted: the port reads that as an empty stream.
      if (error instanceof StreamNotFoundError || error instanceof StreamDeletedError) return;
      throw error;
    }
  }

  /**
   * Reads `$all` in pages of `pageSize`, skipping system events, other prefixes and events that their
   * stream's retention hides (see `readAllVisible`).
   */
  async *readAll(options: ReadAllOptions = {}): AsyncGenerator<RecordedEvent, void> {
    this.#assertOpen();
    yield* readAllVisible(this.client, this.settings.pageSize, options, () => this.#assertOpen());
  }

  subscribeToStream(stream: string, options: SubscribeToStreamOptions = {}): Subscription {
    this.#assertOpen();
    assertStreamName(stream);
    const from = revisionOption(options.fromRevision, 'start');
    const source = new StreamSource(this.#context, stream, typeof from === 'number' ? BigInt(from) : from);
    return this.#subscribe(source, 'stream');
  }

  subscribeToAll(options: SubscribeToAllOptions = {}): Subscription {
    this.#assertOpen();
    const prefixes = options.filter?.streamNamePrefix;
    assertPrefixes(prefixes);
    const from = options.fromPosition ?? 'start';
    const source = new AllSource(
      this.#context,
      from === 'start' || from === 'end' ? from : parsePosition(from),
      prefixes,
    );
    return this.#subscribe(source, 'all');
  }

  async getStreamMetadata(stream: string): Promise<StreamMetadata> {
    this.#assertOpen();
    assertStreamName(stream);
    return getRetention(this.client, stream);
  }

  /** Replaces the stream's retention metadata as a whole; the stream need not exist yet. */
  async setStreamMetadata(stream: string, metadata: StreamMetadata): Promise<void> {
    this.#assertOpen();
    assertStreamName(stream);
    assertStreamMetadata(metadata);
    await setRetention(this.client, stream, metadata);
  }

  /**
   * EventStoreDB's soft delete: the stream reads as empty everywhere, and an append (`no_stream`, `any` or
   * its last revision) recreates it, its revisions continuing. The server replaces the stream's metadata
   * by the deletion marker, so retention settings do not survive a delete. Deleting a stream that was
   * never written, or was already hard-deleted, does nothing.
   */
  async deleteStream(stream: string): Promise<void> {
    this.#assertOpen();
    assertStreamName(stream);
    try {
      await this.client.deleteStream(stream);
    } catch (error) {
      if (error instanceof WrongExpectedVersionError || error instanceof StreamDeletedError) return;
      throw error;
    }
  }

  /** The position of the last non-system event in `$all`. */
  async headPosition(): Promise<string | null> {
    this.#assertOpen();
    return headPositionOf(this.client, this.settings.pageSize);
  }

  /** Ends every open subscription, then the client's connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all([...this.#subscriptions].map((s) => s.close()));
      await this.client.dispose();
    })();
    return this.#closing;
  }

  #subscribe<C>(
    source: ConstructorParameters<typeof EsdbSubscription<C>>[0],
    kind: 'all' | 'stream',
  ): Subscription {
    const onRetry = this.settings.onSubscriptionRetry;
    const subscription = new EsdbSubscription<C>(
      source,
      {
        backoff: this.settings.backoff,
        ...(onRetry ? { onRetry: (info: RetryInfo) => onRetry({ ...info, subscription: kind }) } : {}),
      },
      (s) => this.#subscriptions.delete(s as EsdbSubscription<unknown>),
    );
    this.#subscriptions.add(subscription as EsdbSubscription<unknown>);
    return subscription;
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) throw new EventStoreClosedError();
  }
}
