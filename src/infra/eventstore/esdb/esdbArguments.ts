import type { EventData, StreamMetadata } from '../eventStore.ts';
import { assertMetadataMaxCount } from '../portArguments.ts';
import { InvalidEventStoreArgumentError } from '../storeErrors.ts';

export { assertPrefixes, isRevision, maxCountOption, revisionOption } from '../portArguments.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `$`-prefixed names are EventStoreDB's own streams (and `$$x` is the metadata of `x`). */
export function assertStreamName(stream: string): void {
  if (typeof stream !== 'string' || stream === '' || stream.startsWith('$'))
    throw new InvalidEventStoreArgumentError('stream name must be a non-empty string not starting with "$"', {
      stream,
    });
}

/** EventStoreDB keys events by UUID (and deduplicates appends by it). */
export function assertEvents(events: readonly EventData[]): void {
  if (!Array.isArray(events) || events.length === 0)
    throw new InvalidEventStoreArgumentError('append needs at least one event');
  for (const e of events) {
    if (typeof e?.id !== 'string' || !UUID.test(e.id))
      throw new InvalidEventStoreArgumentError('event id must be a UUID', { id: e?.id });
    if (typeof e.type !== 'string' || e.type === '' || e.type.startsWith('$'))
      throw new InvalidEventStoreArgumentError(
        'event type must be a non-empty string not starting with "$"',
        {
          type: e.type,
        },
      );
  }
}

/** The server takes both as whole numbers of at least 1 (docs: Streams › reserved names). */
export function assertStreamMetadata(metadata: StreamMetadata): void {
  const { maxAge, maxCount } = metadata ?? {};
  if (maxAge !== undefined && !(Number.isSafeInteger(maxAge) && maxAge > 0))
    throw new InvalidEventStoreArgumentError('maxAge must be a positive whole number of seconds');
  assertMetadataMaxCount(maxCount);
}
