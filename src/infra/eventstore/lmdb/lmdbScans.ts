import type { Direction, RecordedEvent } from '../eventStore.ts';
import { decodeEvent } from './eventRecord.ts';
import type { LmdbLayout } from './lmdbLayout.ts';
import { firstVisibleRevision, isTooOld, type StreamState } from './streamState.ts';

/** How `storedEventJson` begins every record: the stream's JSON string comes first. */
const RECORD_START = '{"s":"';

/** Printable ASCII but the two characters JSON escapes in a string (`"` and `\\`): written as they are. */
const isPlain = (prefix: string): boolean => /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/.test(prefix);

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
  /** How each prefix begins a stored record (`{"s":"job-`), when every prefix can be matched there. */
  readonly #recordPrefixes: readonly string[] | undefined;

  constructor(
    private readonly layout: LmdbLayout,
    private readonly nowMs: number,
    private readonly prefixes?: readonly string[],
  ) {
    this.#recordPrefixes = prefixes?.every(isPlain) ? prefixes.map((p) => `${RECORD_START}${p}`) : undefined;
  }

  matchesFilter(stream: string): boolean {
    return this.prefixes === undefined || this.prefixes.some((p) => stream.startsWith(p));
  }

  /**
   * True when the stored record (its JSON, unparsed) is certainly of a stream the filter leaves out, so it
   * need not be decoded: a record begins with its stream's JSON string, which begins with a plain prefix
   * exactly when the stream name does. Anything else (no filter, a prefix with characters JSON escapes, a
   * record that does not begin as `storedEventJson` writes it) is left to `matchesFilter` after decoding.
   */
  leavesOutRecord(json: string): boolean {
    const starts = this.#recordPrefixes;
    if (starts === undefined) return false;
    // A record of a stream the filter wants (the usual case) is told by its first test.
    for (let i = 0; i < starts.length; i++) if (json.startsWith(starts[i] as string)) return false;
    return json.startsWith(RECORD_START);
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
    if (view.leavesOutRecord(value)) continue;
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
