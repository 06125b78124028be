import type { EventStoreDBClient } from '@eventstore/db-client';
import { START, StreamDeletedError, StreamNotFoundError } from '@eventstore/db-client';
import { collectRead } from './clientStreams.ts';

interface Entry {
  /** First revision a read of the stream returns now; `null`: none. */
  first: bigint | null;
  /** The revision that made us look: a `null` answer only holds up to it. */
  checkedAt: bigint;
}

/** How many streams one batch looks up at once. */
const CONCURRENCY = 16;

/**
 * Which events of `$all` a reader of the stream itself would still see. EventStoreDB applies `$maxCount`,
 * `$maxAge`, `$tb` and soft deletion to stream reads only; `$all` keeps returning such events until a
 * scavenge removes them (docs: Server › Features › Streams › "Deleting streams and events"). The port
 * promises the same retention everywhere, so `$all` readers ask the server for each stream's first
 * readable revision (a one-event stream read, where the server evaluates all those rules) and hide
 * what lies before it.
 *
 * One instance serves one pass over `$all` (a `readAll` call, or one catch-up phase of a subscription):
 * each stream is looked up once per pass, so retention that changes during the pass may be seen late.
 * Events past a stream's last lookup are newer than anything that was hidden, and are visible.
 */
export class StreamVisibility {
  readonly #entries = new Map<string, Entry>();

  constructor(private readonly client: EventStoreDBClient) {}

  /** Looks up, in parallel, the streams of these events that this pass has not settled yet. */
  async prepare(
    events: readonly { streamId: string; revision: bigint }[],
    signal?: AbortSignal,
  ): Promise<void> {
    const wanted = new Map<string, bigint>();
    for (const e of events) {
      if (this.#settled(e)) continue;
      wanted.set(e.streamId, bigMax(wanted.get(e.streamId) ?? e.revision, e.revision));
    }
    const queue = [...wanted];
    const worker = async () => {
      for (let job = queue.shift(); job; job = queue.shift()) {
        const [stream, checkedAt] = job;
        this.#entries.set(stream, { first: await this.#firstReadable(stream, signal), checkedAt });
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, queue.length) }, worker));
  }

  /** Call after {@link prepare} for the same events. */
  isVisible(e: { streamId: string; revision: bigint }): boolean {
    const entry = this.#entries.get(e.streamId);
    if (!entry) return true;
    if (entry.first === null) return e.revision > entry.checkedAt;
    return e.revision >= entry.first;
  }

  #settled(e: { streamId: string; revision: bigint }): boolean {
    const entry = this.#entries.get(e.streamId);
    return entry !== undefined && (entry.first !== null || e.revision <= entry.checkedAt);
  }

  async #firstReadable(stream: string, signal?: AbortSignal): Promise<bigint | null> {
    try {
      const [first] = await collectRead(
        this.client.readStream(stream, { fromRevision: START, maxCount: 1 }),
        signal,
      );
      return first?.event?.revision ?? null;
    } catch (error) {
      if (error instanceof StreamNotFoundError || error instanceof StreamDeletedError) return null;
      throw error;
    }
  }
}

const bigMax = (a: bigint, b: bigint): bigint => (a > b ? a : b);
