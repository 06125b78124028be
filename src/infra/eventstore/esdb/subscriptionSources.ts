import type { EventStoreDBClient, Position, ResolvedEvent } from '@eventstore/db-client';
import {
  BACKWARDS,
  END,
  excludeSystemEvents,
  FORWARDS,
  START,
  StreamNotFoundError,
  streamNameFilter,
} from '@eventstore/db-client';
import { collectRead, LiveReader } from './clientStreams.ts';
import type { CatchUpSource, HistoryPage, LiveFeed, Step } from './esdbSubscription.ts';
import { comparePositions } from './positions.ts';
import { isSystemEvent, recordedOf, toPortEvent } from './recordedEvent.ts';
import { StreamVisibility } from './streamVisibility.ts';

export interface SourceContext {
  client: EventStoreDBClient;
  pageSize: number;
  /** The store's head (last non-system event), for `caught_up`. */
  headPosition(signal?: AbortSignal): Promise<string | null>;
}

const matchesPrefixes = (stream: string, prefixes: readonly string[] | undefined): boolean =>
  prefixes === undefined || prefixes.some((p) => stream.startsWith(p));

/**
 * `$all`, optionally by stream-name prefix, never system events. History pages are unfiltered reads of
 * `$all` (the v6 client has no server-side filter for reads), filtered here, with retention applied
 * through {@link StreamVisibility}; the live part uses the server's own filter.
 */
export class AllSource implements CatchUpSource<Position> {
  #visibility: StreamVisibility;
  #lastUserPosition: string | null = null;

  constructor(
    private readonly ctx: SourceContext,
    private readonly from: Position | 'start' | 'end',
    private readonly prefixes: readonly string[] | undefined,
  ) {
    this.#visibility = new StreamVisibility(ctx.client);
  }

  async initial(signal: AbortSignal): Promise<Position | null> {
    if (this.from === 'start') return null;
    if (this.from !== 'end') return this.from;
    const [last] = await collectRead(
      this.ctx.client.readAll({ fromPosition: END, direction: BACKWARDS, maxCount: 1 }),
      signal,
    );
    return last ? (recordedOf(last)?.position ?? null) : null;
  }

  beginPass(): void {
    this.#visibility = new StreamVisibility(this.ctx.client);
  }

  async history(after: Position | null, signal: AbortSignal): Promise<HistoryPage<Position>> {
    const page = await collectRead(
      this.ctx.client.readAll({
        fromPosition: after ?? START,
        direction: FORWARDS,
        maxCount: this.ctx.pageSize,
      }),
      signal,
    );
    // Reads of `$all` include their start position; the checkpoint itself was already handled.
    const records = page
      .map(recordedOf)
      .filter((r) => r !== undefined)
      .filter((r) => after === null || comparePositions(r.position, after) > 0);
    const candidates = records.filter((r) => !isSystemEvent(r) && matchesPrefixes(r.streamId, this.prefixes));
    await this.#visibility.prepare(candidates, signal);
    const steps: Step<Position>[] = records.map((r) => {
      const user = !isSystemEvent(r);
      if (user) this.#lastUserPosition = toPortEvent(r).position;
      const deliver = user && matchesPrefixes(r.streamId, this.prefixes) && this.#visibility.isVisible(r);
      return deliver ? { checkpoint: r.position, event: toPortEvent(r) } : { checkpoint: r.position };
    });
    const end = page.length < this.ctx.pageSize;
    if (!end) return { steps, end };
    return { steps, end, head: this.#lastUserPosition ?? (await this.ctx.headPosition(signal)) };
  }

  live(after: Position | null): LiveFeed<Position> {
    const filter = this.prefixes ? streamNameFilter({ prefixes: [...this.prefixes] }) : excludeSystemEvents();
    const reader = new LiveReader(this.ctx.client.subscribeToAll({ fromPosition: after ?? START, filter }));
    return {
      next: async (signal) => {
        for (;;) {
          const resolved = await reader.next(signal);
          if (resolved === undefined) return undefined;
          const r = recordedOf(resolved);
          if (!r) continue;
          const deliver = !isSystemEvent(r) && matchesPrefixes(r.streamId, this.prefixes);
          return deliver ? { checkpoint: r.position, event: toPortEvent(r) } : { checkpoint: r.position };
        }
      },
      close: () => reader.close(),
    };
  }
}

/**
 * One stream. Stream reads already apply the stream's retention on the server; a stream that does not
 * exist (or is soft-deleted) has no history and is simply caught up.
 */
export class StreamSource implements CatchUpSource<bigint> {
  constructor(
    private readonly ctx: SourceContext,
    private readonly stream: string,
    private readonly from: bigint | 'start' | 'end',
  ) {}

  async initial(signal: AbortSignal): Promise<bigint | null> {
    if (this.from === 'start') return null;
    if (this.from !== 'end') return this.from;
    try {
      const [last] = await collectRead(
        this.ctx.client.readStream(this.stream, { fromRevision: END, direction: BACKWARDS, maxCount: 1 }),
        signal,
      );
      return last?.event?.revision ?? null;
    } catch (error) {
      if (error instanceof StreamNotFoundError) return null;
      throw error;
    }
  }

  beginPass(): void {}

  async history(after: bigint | null, signal: AbortSignal): Promise<HistoryPage<bigint>> {
    // Read the head first: everything up to it in this stream is in this page or an earlier one.
    const head = await this.ctx.headPosition(signal);
    let page: ResolvedEvent[];
    try {
      page = await collectRead(
        this.ctx.client.readStream(this.stream, {
          fromRevision: after === null ? START : after + 1n,
          direction: FORWARDS,
          maxCount: this.ctx.pageSize,
        }),
        signal,
      );
    } catch (error) {
      if (error instanceof StreamNotFoundError) return { steps: [], end: true, head };
      throw error;
    }
    const steps = page
      .map(recordedOf)
      .filter((r) => r !== undefined)
      .map((r) => ({ checkpoint: r.revision, event: toPortEvent(r) }));
    const end = page.length < this.ctx.pageSize;
    return end ? { steps, end, head } : { steps, end };
  }

  live(after: bigint | null): LiveFeed<bigint> {
    const reader = new LiveReader(
      this.ctx.client.subscribeToStream(this.stream, { fromRevision: after ?? START }),
    );
    return {
      next: async (signal) => {
        for (;;) {
          const resolved = await reader.next(signal);
          if (resolved === undefined) return undefined;
          const r = recordedOf(resolved);
          if (r) return { checkpoint: r.revision, event: toPortEvent(r) };
        }
      },
      close: () => reader.close(),
    };
  }
}
