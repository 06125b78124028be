import type { ExpectedRevision, StreamMetadata } from '../eventStore.ts';

/**
 * What the store keeps per stream, in one record, read and written inside the append transaction.
 * Retention and soft deletion only hide events at read time; nothing is ever removed from the log.
 */
export interface StreamState {
  /** Revision of the last event ever written; -1 before the first. Survives soft deletion. */
  lastRevision: number;
  /** Revisions below this are hidden (soft delete sets it to `lastRevision + 1`). */
  truncateBefore: number;
  maxAge?: number;
  maxCount?: number;
}

export const NEW_STREAM: StreamState = { lastRevision: -1, truncateBefore: 0 };

export const isSoftDeleted = (s: StreamState): boolean =>
  s.lastRevision >= 0 && s.truncateBefore > s.lastRevision;

/** Never written, or soft-deleted and not written since: readers see no stream. */
export const hasNoStream = (s: StreamState): boolean => s.lastRevision < 0 || isSoftDeleted(s);

export const actualRevision = (s: StreamState): number | 'no_stream' =>
  hasNoStream(s) ? 'no_stream' : s.lastRevision;

/**
 * As EventStoreDB: a soft-deleted stream may be recreated with `no_stream`, `any`, or its last revision
 * before deletion; revisions continue from there.
 */
export function matchesExpectedRevision(s: StreamState, expected: ExpectedRevision): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'no_stream':
      return hasNoStream(s);
    case 'stream_exists':
      return !hasNoStream(s);
    default:
      return s.lastRevision === expected;
  }
}

export function firstVisibleRevision(s: StreamState): number {
  const byCount = s.maxCount === undefined ? 0 : s.lastRevision - s.maxCount + 1;
  return Math.max(s.truncateBefore, byCount);
}

export function isTooOld(s: StreamState, created: string, nowMs: number): boolean {
  return s.maxAge !== undefined && nowMs - Date.parse(created) > s.maxAge * 1000;
}

/** Only the retention fields that are set (absent rather than `undefined`, so records stay small). */
export const metadataOf = (m: StreamMetadata): StreamMetadata => ({
  ...(m.maxAge === undefined ? {} : { maxAge: m.maxAge }),
  ...(m.maxCount === undefined ? {} : { maxCount: m.maxCount }),
});

/** Metadata replaces the previous metadata as a whole, as a new metadata event does in EventStoreDB. */
export const withMetadata = (s: StreamState, metadata: StreamMetadata): StreamState => ({
  lastRevision: s.lastRevision,
  truncateBefore: s.truncateBefore,
  ...metadataOf(metadata),
});
