import type { EventStoreDBClient } from '@eventstore/db-client';
import {
  BACKWARDS,
  END,
  jsonEvent,
  NO_STREAM,
  StreamNotFoundError,
  WrongExpectedVersionError,
} from '@eventstore/db-client';
import type { StreamMetadata } from '../eventStore.ts';
import { collectRead } from './clientStreams.ts';

interface Metastream {
  /** Revision of the metadata stream's last event; `null` when it has none. */
  revision: bigint | null;
  raw: Record<string, unknown>;
}

const metastreamOf = (stream: string): string => `$$${stream}`;

/** The last `$metadata` event of `$$<stream>` as stored (docs: Streams › "Stream metadata"). */
async function readMetastream(client: EventStoreDBClient, stream: string): Promise<Metastream> {
  try {
    const [last] = await collectRead(
      client.readStream(metastreamOf(stream), { direction: BACKWARDS, fromRevision: END, maxCount: 1 }),
    );
    const event = last?.event;
    if (!event) return { revision: null, raw: {} };
    const data = event.isJson ? event.data : undefined;
    const raw = typeof data === 'object' && data !== null && !Array.isArray(data) ? data : {};
    return { revision: event.revision, raw: raw as Record<string, unknown> };
  } catch (error) {
    if (error instanceof StreamNotFoundError) return { revision: null, raw: {} };
    throw error;
  }
}

const positiveInteger = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined;

export async function getRetention(client: EventStoreDBClient, stream: string): Promise<StreamMetadata> {
  const { raw } = await readMetastream(client, stream);
  const maxAge = positiveInteger(raw['$maxAge']);
  const maxCount = positiveInteger(raw['$maxCount']);
  return { ...(maxAge === undefined ? {} : { maxAge }), ...(maxCount === undefined ? {} : { maxCount }) };
}

const ATTEMPTS = 5;

/**
 * Replaces `$maxAge`/`$maxCount` as a whole and keeps every other key. A new metadata event replaces the
 * old one entirely, so `$tb` must be carried over: dropping it would make the events a soft delete hid
 * readable again. A `$tb` past 2^53 is the soft-delete marker Int64.MaxValue, which JSON from JavaScript
 * cannot write exactly (the server would discard the whole metadata); it is left out and the server
 * itself rewrites it to the stream's next revision, which keeps the deleted events hidden. The write
 * expects the metadata stream's revision just read, and retries when another writer got in between.
 */
export async function setRetention(
  client: EventStoreDBClient,
  stream: string,
  metadata: StreamMetadata,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const { revision, raw } = await readMetastream(client, stream);
    const { $maxAge: _age, $maxCount: _count, $tb: tb, ...kept } = raw;
    const next: Record<string, unknown> = { ...kept };
    if (typeof tb === 'number' && Number.isSafeInteger(tb) && tb >= 0) next['$tb'] = tb;
    if (metadata.maxAge !== undefined) next['$maxAge'] = metadata.maxAge;
    if (metadata.maxCount !== undefined) next['$maxCount'] = metadata.maxCount;
    try {
      await client.appendToStream(metastreamOf(stream), jsonEvent({ type: '$metadata', data: next }), {
        expectedRevision: revision ?? NO_STREAM,
      });
      return;
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError) || attempt >= ATTEMPTS) throw error;
    }
  }
}
