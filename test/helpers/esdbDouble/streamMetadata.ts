/**
 * The reserved stream-metadata keys the double honours, as EventStoreDB stores them in a stream's
 * metadata stream `$$<stream>` (docs: Server › Features › Streams › "Metadata and reserved names").
 */
export interface DoubleStreamMetadata {
  /** `$maxAge`, seconds. */
  maxAge?: number;
  /** `$maxCount`, events. */
  maxCount?: number;
  /** `$tb` (truncate before): events with a lower revision are deleted. */
  truncateBefore?: bigint;
  /** Every key as stored, `$tb` included, so a soft undelete can rewrite it (StorageWriterService). */
  raw: Record<string, unknown>;
}

/**
 * Soft delete sets `$tb` to Int64.MaxValue (docs: Streams › "Soft delete and TruncateBefore"); the
 * tombstone of a hard delete is also written at this event number (EventNumber.DeletedStream).
 */
export const DELETED_STREAM = 9_223_372_036_854_775_807n;

/** The metadata stream of a stream is `$$` + its name (docs: Streams › "Stream metadata"). */
export const metastreamOf = (stream: string): string => `$$${stream}`;
export const isMetastream = (stream: string): boolean => stream.startsWith('$$');
export const originalStreamOf = (metastream: string): string => metastream.slice(2);

/**
 * A metastream keeps only its latest event: the server gives metastreams an implicit `$maxCount` of 1
 * (IndexReader's metastream metadata), which is why `getStreamMetadata` reads one event backwards.
 */
export const METASTREAM_METADATA: DoubleStreamMetadata = { maxCount: 1, raw: { $maxCount: 1 } };

export const EMPTY_METADATA: DoubleStreamMetadata = { raw: {} };

const LONG_MAX = DELETED_STREAM;

/** The literal digits of an integer-valued key, so values past 2^53 are compared exactly. */
function integerLiteral(json: string, key: string): bigint | undefined | 'invalid' {
  const match = new RegExp(`"\\${key}"\\s*:\\s*([^,}\\s]+)`).exec(json);
  if (!match) return undefined;
  const literal = match[1] as string;
  return /^-?\d+$/.test(literal) ? BigInt(literal) : 'invalid';
}

/**
 * Parses a `$metadata` event body as the server does (StreamMetadata.TryFromJsonBytes): the reserved keys
 * must be JSON integers that fit an Int64, or the whole metadata is ignored (the server's comment names
 * JavaScript clients writing Int64.MaxValue imprecisely as the usual cause); non-positive `$maxCount` and
 * `$maxAge` and negative `$tb` count as unset; non-JSON metadata is ignored.
 */
export function parseStreamMetadata(data: Uint8Array, isJson: boolean): DoubleStreamMetadata {
  if (!isJson || data.length === 0) return EMPTY_METADATA;
  const json = Buffer.from(data).toString('utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return EMPTY_METADATA;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return EMPTY_METADATA;
  const record = raw as Record<string, unknown>;
  const meta: DoubleStreamMetadata = { raw: record };
  for (const key of ['$maxCount', '$maxAge', '$tb'] as const) {
    const value = integerLiteral(json, key);
    if (value === undefined) continue;
    if (value === 'invalid' || value > LONG_MAX || value < -LONG_MAX - 1n) return EMPTY_METADATA;
    if (key === '$tb') {
      if (value >= 0n) meta.truncateBefore = value;
    } else if (value > 0n) meta[key === '$maxCount' ? 'maxCount' : 'maxAge'] = Number(value);
  }
  return meta;
}

/** Serialises metadata JSON with `$tb` written as an exact integer even past 2^53. */
export function serializeStreamMetadata(raw: Record<string, unknown>, truncateBefore: bigint): Uint8Array {
  const { $tb: _ignored, ...rest } = raw;
  const body = JSON.stringify(rest);
  const tb = `"$tb":${truncateBefore.toString(10)}`;
  const json = body === '{}' ? `{${tb}}` : `${body.slice(0, -1)},${tb}}`;
  return Buffer.from(json, 'utf8');
}
