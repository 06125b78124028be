import type { ExpectedRevision } from './eventStore.ts';
import { InvalidEventStoreArgumentError } from './storeErrors.ts';

/** Checks of the port's arguments that mean the same on every adapter; each adapter adds its own limits. */

export const isRevision = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

export function assertExpectedRevision(expected: ExpectedRevision): void {
  if (expected === 'any' || expected === 'no_stream' || expected === 'stream_exists' || isRevision(expected))
    return;
  throw new InvalidEventStoreArgumentError(`invalid expected revision ${String(expected)}`);
}

export function revisionOption(value: number | 'start' | 'end' | undefined, fallback: 'start' | 'end') {
  const v = value ?? fallback;
  if (v === 'start' || v === 'end' || isRevision(v)) return v;
  throw new InvalidEventStoreArgumentError(`invalid revision ${String(value)}`);
}

/** `undefined` means no limit. */
export function maxCountOption(maxCount: number | undefined): number {
  if (maxCount === undefined) return Number.POSITIVE_INFINITY;
  if (isRevision(maxCount)) return maxCount;
  throw new InvalidEventStoreArgumentError(
    `maxCount must be a non-negative integer, got ${String(maxCount)}`,
  );
}

/** A stream's `maxCount` metadata: a whole number of at least 1 on every adapter. */
export function assertMetadataMaxCount(maxCount: number | undefined): void {
  if (maxCount !== undefined && !(Number.isSafeInteger(maxCount) && maxCount > 0))
    throw new InvalidEventStoreArgumentError('maxCount must be a positive integer');
}

export function assertPrefixes(prefixes: readonly string[] | undefined): void {
  if (prefixes !== undefined && !(Array.isArray(prefixes) && prefixes.every((p) => typeof p === 'string')))
    throw new InvalidEventStoreArgumentError('filter.streamNamePrefix must be an array of strings');
}
