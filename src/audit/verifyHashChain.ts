import { chainHash, GENESIS_HASH, isChainHash } from './hashChain.ts';

export interface ChainBreak {
  /** 1-based line number in the file. */
  line: number;
  reason: string;
  expected?: string;
  found?: string;
}

export interface ChainVerification {
  ok: boolean;
  /** Chained lines checked (up to and excluding the first break). */
  events: number;
  /** The `hash` of the last line that verified (the `prev_hash` given when none did). */
  head: string;
  first_break: ChainBreak | null;
}

export interface VerifyOptions {
  /** The chain continues an earlier export: its last `hash`. Default 64 zeros. */
  prevHash?: string;
  /** The head recorded at export time: a file that verifies but ends elsewhere was truncated or rewritten. */
  expectHead?: string;
}

const NEWLINE = 0x0a;
const SUFFIX_PREFIX = Buffer.from(',"prev_hash":"');
const SUFFIX_MIDDLE = Buffer.from('","hash":"');
const SUFFIX_END = Buffer.from('"}');
/** `,"prev_hash":"<64>","hash":"<64>"}` */
const SUFFIX_LENGTH = SUFFIX_PREFIX.length + 64 + SUFFIX_MIDDLE.length + 64 + SUFFIX_END.length;

/**
 * Splits a byte stream on `\n` only (a `\r` stays part of its line, so it counts as a change), keeping each
 * line's exact bytes: the hash covers bytes, not a decoded and re-encoded string. A line's pieces are joined
 * once, when its newline comes (a long line costs its length, not its length times its chunks); a last piece
 * without a newline comes out `terminated: false`.
 */
export async function* byteLines(
  chunks: AsyncIterable<Buffer | string>,
): AsyncGenerator<{ bytes: Buffer; terminated: boolean }> {
  let pieces: Buffer[] = [];
  for await (const chunk of chunks) {
    let data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let newline = data.indexOf(NEWLINE);
    while (newline !== -1) {
      pieces.push(data.subarray(0, newline));
      yield { bytes: pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces), terminated: true };
      pieces = [];
      data = data.subarray(newline + 1);
      newline = data.indexOf(NEWLINE);
    }
    if (data.length > 0) pieces.push(data);
  }
  if (pieces.length > 0) yield { bytes: Buffer.concat(pieces), terminated: false };
}

/** The parts of one chained line, or why it is not one. */
function splitLine(line: Buffer): { event: Buffer; prevHash: string; hash: string } | string {
  if (line.length <= SUFFIX_LENGTH || line[0] !== 0x7b) return 'not a chained event line';
  const suffix = line.subarray(line.length - SUFFIX_LENGTH);
  const prevAt = SUFFIX_PREFIX.length;
  const hashAt = prevAt + 64 + SUFFIX_MIDDLE.length;
  if (
    !suffix.subarray(0, prevAt).equals(SUFFIX_PREFIX) ||
    !suffix.subarray(prevAt + 64, hashAt).equals(SUFFIX_MIDDLE) ||
    !suffix.subarray(hashAt + 64).equals(SUFFIX_END)
  )
    return 'not a chained event line: it must end with ,"prev_hash":"<64 hex>","hash":"<64 hex>"}';
  const prevHash = suffix.subarray(prevAt, prevAt + 64).toString('latin1');
  const hash = suffix.subarray(hashAt, hashAt + 64).toString('latin1');
  if (!isChainHash(prevHash) || !isChainHash(hash))
    return 'prev_hash and hash must be 64 lowercase hex digits';
  const event = Buffer.concat([line.subarray(0, line.length - SUFFIX_LENGTH), Buffer.from('}')]);
  return { event, prevHash, hash };
}

function isEventJson(bytes: Buffer): boolean {
  try {
    const value = JSON.parse(bytes.toString('utf8')) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) && 'id' in value;
  } catch {
    return false;
  }
}

/**
 * Checks a chained export line by line and stops at the first break: a line that is not a chained event, a
 * `prev_hash` that is not the previous line's `hash` (a line removed, inserted or moved), or a `hash` that
 * does not match the line's content (a line edited). Every line ends with `\n`: an empty line, or a last
 * line without its newline, is a break too (any changed byte is).
 */
export async function verifyHashChain(
  chunks: AsyncIterable<Buffer | string>,
  options: VerifyOptions = {},
): Promise<ChainVerification> {
  let head = options.prevHash ?? GENESIS_HASH;
  let number = 0;
  let events = 0;
  const broken = (brk: ChainBreak): ChainVerification => ({ ok: false, events, head, first_break: brk });
  for await (const { bytes: line, terminated } of byteLines(chunks)) {
    number++;
    if (line.length === 0) return broken({ line: number, reason: 'empty line' });
    // Every line of an export ends with a newline: a last line without one was cut (or its newline removed).
    if (!terminated)
      return broken({
        line: number,
        reason: 'the last line has no newline: the file was cut (a torn export?)',
      });
    const parts = splitLine(line);
    if (typeof parts === 'string') return broken({ line: number, reason: parts });
    if (parts.prevHash !== head)
      return broken({
        line: number,
        reason:
          number === 1
            ? 'prev_hash of the first line is not the chain start'
            : "prev_hash is not the previous line's hash: a line was removed, inserted or moved",
        expected: head,
        found: parts.prevHash,
      });
    const computed = chainHash(head, parts.event);
    if (computed !== parts.hash)
      return broken({
        line: number,
        reason: "hash does not match the line's content: the line was changed",
        expected: computed,
        found: parts.hash,
      });
    if (!isEventJson(parts.event))
      return broken({ line: number, reason: 'the line is not an event JSON object' });
    head = parts.hash;
    events++;
  }
  if (options.expectHead !== undefined && options.expectHead !== head)
    return broken({
      line: number + 1,
      reason:
        'the chain ends with another hash than the recorded head: the end of the file was cut or rewritten',
      expected: options.expectHead,
      found: head,
    });
  return { ok: true, events, head, first_break: null };
}
