import type { ExpectedRevision, StreamMetadata } from '../eventStore.ts';
import { InvalidEventStoreArgumentError } from '../storeErrors.ts';

/** LMDB keys hold at most 1978 bytes and cannot contain NUL; the stream index key adds ~10 bytes. */
const MAX_STREAM_NAME_BYTES = 1024;

export function assertStreamName(stream: string): void {
  if (typeof stream !== 'string' || stream === '' || stream.includes('\u0000'))
    throw new InvalidEventStoreArgumentError('stream name must be a non-empty string without NUL characters');
  if (Buffer.byteLength(stream) > MAX_STREAM_NAME_BYTES)
    throw new InvalidEventStoreArgumentError(`stream name longer than ${MAX_STREAM_NAME_BYTES} bytes`);
}

const isRevision = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

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

export function assertStreamMetadata(metadata: StreamMetadata): void {
  const { maxAge, maxCount } = metadata ?? {};
  if (maxAge !== undefined && !(Number.isFinite(maxAge) && maxAge > 0))
    throw new InvalidEventStoreArgumentError('maxAge must be a positive number of seconds');
  if (maxCount !== undefined && !(Number.isSafeInteger(maxCount) && maxCount > 0))
    throw new InvalidEventStoreArgumentError('maxCount must be a positive integer');
}

export function assertPrefixes(prefixes: readonly string[] | undefined): void {
  if (prefixes !== undefined && !(Array.isArray(prefixes) && prefixes.every((p) => typeof p === 'string')))
    throw new InvalidEventStoreArgumentError('filter.streamNamePrefix must be an array of strings');
}
