import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import type { JobEvent } from '../domain/events.ts';
import { toCanonicalJson } from '../domain/events.ts';

/**
 * The tamper-evident export format. Each line is the canonical event JSON with two fields appended:
 *
 *     {"id":...,"actor":"root","prev_hash":"<64 hex>","hash":"<64 hex>"}
 *
 * - `hash` = lowercase hex SHA-256 of the bytes of `prev_hash` (64 ASCII hex digits) followed by the UTF-8
 *   bytes of the canonical event JSON, i.e. the line without `,"prev_hash":…,"hash":…` (the closing `}`
 *   kept);
 * - `prev_hash` = the `hash` of the line before; on the first line, 64 zeros (`GENESIS_HASH`), unless the
 *   export continues an earlier one, whose last `hash` it then starts from.
 *
 * Changing, removing, inserting or reordering any line breaks the chain at that line. Rewriting the whole
 * file from some line on (recomputing every later hash) is only caught against a copy of the last `hash`
 * (the chain head) kept elsewhere: record it when exporting.
 */
export const GENESIS_HASH = '0'.repeat(64);

const HASH_PATTERN = /^[0-9a-f]{64}$/;

export const isChainHash = (value: string): boolean => HASH_PATTERN.test(value);

/** SHA-256 hex of `prevHash` followed by the event's canonical JSON (string or its exact UTF-8 bytes). */
export function chainHash(prevHash: string, eventJson: string | Uint8Array): string {
  return createHash('sha256').update(prevHash, 'ascii').update(eventJson).digest('hex');
}

/** The chained line (without newline) of one canonical event JSON, and its hash. */
export function chainLine(prevHash: string, eventJson: string): { line: string; hash: string } {
  const hash = chainHash(prevHash, eventJson);
  return { line: `${eventJson.slice(0, -1)},"prev_hash":"${prevHash}","hash":"${hash}"}`, hash };
}

/** A running chain: feed canonical event JSON in export order, get the chained lines. */
export class HashChain {
  #head: string;

  constructor(prevHash: string = GENESIS_HASH) {
    if (!isChainHash(prevHash)) throw new TypeError('a chain hash is 64 lowercase hex digits');
    this.#head = prevHash;
  }

  /** The `hash` of the last line (the value to record to detect a truncated or rewritten tail). */
  get head(): string {
    return this.#head;
  }

  /** The chained line for `eventJson` (canonical JSON of one event, no newline). */
  append(eventJson: string): string {
    const { line, hash } = chainLine(this.#head, eventJson);
    this.#head = hash;
    return line;
  }
}

/**
 * A streaming transform: in, events (objects) or their canonical JSON, optionally newline-terminated, one
 * per chunk (object mode); out, chained NDJSON lines. `chain.head` is the head once the stream ends.
 */
export function hashChainTransform(chain: HashChain = new HashChain()): Transform {
  return new Transform({
    writableObjectMode: true,
    transform(chunk: JobEvent | string, _encoding, done) {
      const json = typeof chunk === 'string' ? chunk.replace(/\n$/, '') : toCanonicalJson(chunk);
      done(null, `${chain.append(json)}\n`);
    },
  });
}
