import type {
  AppendOptions,
  AppendResult,
  EventData,
  EventStore,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
  StreamFilter,
  StreamMetadata,
  SubscribeToAllOptions,
  SubscribeToStreamOptions,
  Subscription,
  SubscriptionItem,
} from '../../src/infra/eventstore/eventStore.ts';
import { WrongExpectedRevisionError } from '../../src/infra/eventstore/eventStore.ts';

/**
 * An in-memory EventStore for fast unit tests: positions are the global index ('0', '1', ...), revisions
 * are 0-based per stream. Retention metadata is stored but only `deleteStream` hides events.
 */
export class MemoryEventStore implements EventStore {
  readonly #all: RecordedEvent[] = [];
  readonly #streams = new Map<string, RecordedEvent[]>();
  readonly #deleted = new Map<string, number>();
  readonly #metadata = new Map<string, StreamMetadata>();
  #waiters: (() => void)[] = [];
  #closed = false;
  /** Events handed out per subscription read, to exercise the consumer's batching. */
  readonly chunkSize: number;

  constructor(options: { chunkSize?: number } = {}) {
    this.chunkSize = options.chunkSize ?? 64;
  }

  async append(
    stream: string,
    events: readonly EventData[],
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    const existing = this.#streams.get(stream) ?? [];
    const current = existing.length === 0 ? 'no_stream' : existing.length - 1;
    const expected = options.expectedRevision ?? 'any';
    const ok =
      expected === 'any' ||
      (expected === 'no_stream' && current === 'no_stream') ||
      (expected === 'stream_exists' && current !== 'no_stream') ||
      expected === current;
    if (!ok) throw new WrongExpectedRevisionError(stream, expected, current);
    for (const e of events) {
      const recorded: RecordedEvent = {
        streamId: stream,
        revision: existing.length,
        position: String(this.#all.length),
        id: e.id,
        type: e.type,
        data: structuredClone(e.data),
        metadata: structuredClone(e.metadata ?? {}),
        created: new Date().toISOString(),
      };
      existing.push(recorded);
      this.#all.push(recorded);
    }
    this.#streams.set(stream, existing);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
    const last = existing.at(-1)!;
    return { nextRevision: last.revision, position: last.position };
  }

  async *readStream(stream: string, options: ReadStreamOptions = {}): AsyncIterable<RecordedEvent> {
    const events = this.#visible(this.#streams.get(stream) ?? []);
    const direction = options.direction ?? 'forwards';
    const max = options.maxCount ?? Number.POSITIVE_INFINITY;
    let count = 0;
    if (direction === 'forwards') {
      const from =
        options.fromRevision === undefined || options.fromRevision === 'start' ? 0 : options.fromRevision;
      for (const e of events) {
        if (count >= max) return;
        if (from === 'end' || e.revision < from) continue;
        count++;
        yield e;
      }
    } else {
      const from =
        options.fromRevision === undefined || options.fromRevision === 'end'
          ? Number.POSITIVE_INFINITY
          : options.fromRevision === 'start'
            ? -1
            : options.fromRevision;
      for (let i = events.length - 1; i >= 0 && count < max; i--) {
        const e = events[i]!;
        if (e.revision > from) continue;
        count++;
        yield e;
      }
    }
  }

  async *readAll(options: ReadAllOptions = {}): AsyncIterable<RecordedEvent> {
    const direction = options.direction ?? 'forwards';
    const max = options.maxCount ?? Number.POSITIVE_INFINITY;
    let count = 0;
    if (direction === 'forwards') {
      const from =
        options.fromPosition === undefined || options.fromPosition === 'start'
          ? 0
          : options.fromPosition === 'end'
            ? this.#all.length
            : Number(options.fromPosition);
      for (let i = from; i < this.#all.length && count < max; i++) {
        const e = this.#all[i]!;
        if (!this.#matches(e, options.filter)) continue;
        count++;
        yield e;
      }
    } else {
      const from =
        options.fromPosition === undefined || options.fromPosition === 'end'
          ? this.#all.length - 1
          : options.fromPosition === 'start'
            ? -1
            : Number(options.fromPosition);
      for (let i = Math.min(from, this.#all.length - 1); i >= 0 && count < max; i--) {
        const e = this.#all[i]!;
        if (!this.#matches(e, options.filter)) continue;
        count++;
        yield e;
      }
    }
  }

  subscribeToStream(stream: string, options: SubscribeToStreamOptions = {}): Subscription {
    const start =
      options.fromRevision === undefined || options.fromRevision === 'start'
        ? 0
        : options.fromRevision === 'end'
          ? (this.#streams.get(stream)?.length ?? 0)
          : options.fromRevision + 1;
    let next = start;
    return this.#subscription(() => {
      const events = this.#streams.get(stream) ?? [];
      const out = this.#visible(events.slice(next, next + this.chunkSize));
      const before = next;
      next = Math.min(events.length, next + this.chunkSize);
      return { events: out, advanced: next > before, position: events.at(-1)?.position ?? null };
    });
  }

  subscribeToAll(options: SubscribeToAllOptions = {}): Subscription {
    let next =
      options.fromPosition === undefined || options.fromPosition === 'start'
        ? 0
        : options.fromPosition === 'end'
          ? this.#all.length
          : Number(options.fromPosition) + 1;
    return this.#subscription(() => {
      const slice = this.#all.slice(next, next + this.chunkSize);
      const before = next;
      next = Math.min(this.#all.length, next + this.chunkSize);
      return {
        events: slice.filter((e) => this.#matches(e, options.filter)),
        advanced: next > before,
        position: this.#all.at(-1)?.position ?? null,
      };
    });
  }

  async getStreamMetadata(stream: string): Promise<StreamMetadata> {
    return this.#metadata.get(stream) ?? {};
  }

  async setStreamMetadata(stream: string, metadata: StreamMetadata): Promise<void> {
    this.#metadata.set(stream, metadata);
  }

  async deleteStream(stream: string): Promise<void> {
    this.#deleted.set(stream, this.#streams.get(stream)?.length ?? 0);
  }

  async headPosition(): Promise<string | null> {
    return this.#all.at(-1)?.position ?? null;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  #visible(events: RecordedEvent[]): RecordedEvent[] {
    return events.filter((e) => e.revision >= (this.#deleted.get(e.streamId) ?? 0));
  }

  #matches(e: RecordedEvent, filter: StreamFilter | undefined): boolean {
    if (e.revision < (this.#deleted.get(e.streamId) ?? 0)) return false;
    const prefixes = filter?.streamNamePrefix;
    return !prefixes || prefixes.some((p) => e.streamId.startsWith(p));
  }

  #subscription(
    readChunk: () => { events: RecordedEvent[]; advanced: boolean; position: string | null },
  ): Subscription {
    let closed = false;
    let wake: (() => void) | null = null;
    const store = this;
    const waitForAppend = () =>
      new Promise<void>((resolve) => {
        wake = resolve;
        store.#waiters.push(resolve);
      });
    async function* items(): AsyncGenerator<SubscriptionItem> {
      let caughtUp = false;
      while (!closed && !store.#closed) {
        const chunk = readChunk();
        for (const event of chunk.events) {
          if (closed) return;
          yield { kind: 'event', event };
        }
        // Only a read that found nothing new may wait: appends made while yielding are read next turn.
        if (chunk.advanced) continue;
        if (!caughtUp) {
          caughtUp = true;
          yield { kind: 'caught_up', position: chunk.position };
          continue;
        }
        await waitForAppend();
      }
    }
    const iterator = items();
    return {
      [Symbol.asyncIterator]: () => iterator,
      async close() {
        closed = true;
        (wake as (() => void) | null)?.();
        await iterator.return(undefined);
      },
    };
  }
}
