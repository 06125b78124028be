import type { StreamMetadata } from '../eventStore.ts';
import { assertMetadataMaxCount } from '../portArguments.ts';
import { InvalidEventStoreArgumentError } from '../storeErrors.ts';

export { assertExpectedRevision, assertPrefixes, maxCountOption, revisionOption } from '../portArguments.ts';

/** LMDB keys hold at most 1978 bytes and cannot contain NUL; the stream index key adds ~10 bytes. */
const MAX_STREAM_NAME_BYTES = 1024;

export function assertStreamName(stream: string): void {
  if (typeof stream !== 'string' || stream === '' || stream.includes('\u0000'))
    throw new InvalidEventStoreArgumentError('stream name must be a non-empty string without NUL characters');
  if (Buffer.byteLength(stream) > MAX_STREAM_NAME_BYTES)
    throw new InvalidEventStoreArgumentError(`stream name longer than ${MAX_STREAM_NAME_BYTES} bytes`);
}

/** LMDB keeps `maxAge` as any positive number of seconds. */
export function assertStreamMetadata(metadata: StreamMetadata): void {
  const { maxAge, maxCount } = metadata ?? {};
  if (maxAge !== undefined && !(Number.isFinite(maxAge) && maxAge > 0))
    throw new InvalidEventStoreArgumentError('maxAge must be a positive number of seconds');
  assertMetadataMaxCount(maxCount);
}
