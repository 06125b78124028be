import type { Direction, RecordedEvent } from '../eventStore.ts';
import { decodeEvent } from './eventRecord.ts';
import type { LmdbLayout } from './lmdbLayout.ts';
import { firstVisibleRevision, isTooOld, type StreamState } from './streamState.ts';

/** One synchronous cursor scan: the events a reader may see, and how far the cursor got. */
export interface ScanBatch {
  events: RecordedEvent[];
  /** Entries the cursor passed, hidden ones included. Fewer than the limit: the scan reached the end. */
  scanned: number;
  /** Key (position or revision) of the last entry passed. */
  last: number | undefined;
}

/**
 * Decides what a reader sees: the stream-name filter, soft deletion and retention metadata. Stream states are
 * cached for one batch only, so a long reader notices metadata changes at the next batch.
 */
export class VisibilityView {
  readonly #states = new Map<string, StreamState | undefined>();

  constructor(
    private readonly layout: LmdbLayout,
    private readonly nowMs: number,
    private readonly prefixes?: readonly string[],
  ) {}

  matchesFilter(stream: string): boolean {
    return this.prefixes === undefined || this.prefixes.some((p) => stream.startsWith(p));
  }

  isVisible(event: RecordedEvent): boolean {
    const state = this.#stateOf(event.streamId);
    if (state === undefined) return true;
    return event.revision >= firstVisibleRevision(state) && !isTooOld(state, event.created, this.nowMs);
  }

  #stateOf(stream: string): StreamState | undefined {
    if (!this.#states.has(stream)) this.#states.set(stream, this.layout.streams.get(stream));
    return this.#states.get(stream);
  }
}

/** Scans `$all` from `from` (inclusive); forwards it stops before `endExclusive` when given. */
export function scanAll(
  layout: LmdbLayout,
  view: VisibilityView,
  from: number,
  direction: Direction,
  limit: number,
  endExclusive?: number,
): ScanBatch {
  const batch: ScanBatch = { events: [], scanned: 0, last: undefined };
  const range =
    direction === 'forwards'
      ? layout.events.getRange({ start: from, end: endExclusive, limit })
      : layout.events.getRange({ start: from, reverse: true, limit });
  for (const { key, value } of range) {
    batch.scanned++;
    batch.last = key;
    const event = decodeEvent(key, value);
    if (view.matchesFilter(event.streamId) && view.isVisible(event)) batch.events.push(event);
  }
  return batch;
}

/** Scans one stream by revision from `from` (inclusive) towards `boundExclusive`, in either direction. */
export function scanStream(
  layout: LmdbLayout,
  view: VisibilityView,
  stream: string,
  from: number,
  direction: Direction,
  limit: number,
  boundExclusive: number,
): ScanBatch {
  const batch: ScanBatch = { events: [], scanned: 0, last: undefined };
  const range = layout.streamIndex.getRange({
    start: [stream, from],
    end: [stream, boundExclusive],
    reverse: direction === 'backwards',
    limit,
  });
  for (const { key, value: position } of range) {
    batch.scanned++;
    batch.last = key[1];
    const json = layout.events.get(position);
    if (json === undefined) continue;
    const event = decodeEvent(position, json);
    if (view.isVisible(event)) batch.events.push(event);
  }
  return batch;
}
