import type { Context } from 'koa';
import { HttpError } from './errors.ts';

export interface JsonBodyLimits {
  /** The whole body. */
  bytes: number;
  /** Nesting of arrays and objects; the body itself is depth 1. */
  depth: number;
  /** Each of the client's free-form fields (`params`, `payload`, `metadata`), serialised. */
  fieldBytes: number;
}

/** The top-level body fields that carry a client's free-form JSON into an event. */
const FREE_FORM_FIELDS = ['params', 'payload', 'metadata'] as const;

/**
 * Reads a JSON request body within limits: 413 past the byte limits, 400 for malformed or too deeply
 * nested JSON or a wrong content type. An empty body reads as `{}`. Checked here, before any schema or
 * decision sees the value, so nothing downstream recurses over hostile input.
 */
export async function readJsonBody(ctx: Context, limits: JsonBodyLimits): Promise<unknown> {
  const value = await parseJsonBody(ctx, limits.bytes);
  const { depth, protoKey } = jsonShape(value, limits.depth);
  if (depth > limits.depth)
    throw new HttpError(
      'too_deep',
      `request body nests arrays and objects deeper than the limit of ${limits.depth}`,
      'invalid',
    );
  // JSON.parse keeps `__proto__` as an ordinary key, but a copy made by assignment turns it into the copy's
  // prototype and the schemas drop it: refused, rather than stored without it.
  if (protoKey)
    throw new HttpError(
      'invalid_json',
      'request body uses the key "__proto__", which no field may have',
      'invalid',
    );
  if (isRecord(value))
    for (const field of FREE_FORM_FIELDS) {
      if (value[field] === undefined) continue;
      const size = Buffer.byteLength(JSON.stringify(value[field]));
      if (size > limits.fieldBytes)
        throw new HttpError(
          'payload_too_large',
          `${field} is ${size} bytes of JSON, over the limit of ${limits.fieldBytes}`,
          'too_large',
          { field, bytes: size, limit: limits.fieldBytes },
        );
    }
  return value;
}

/**
 * Depth of nested arrays and objects, counted without recursion and given up past `limit`, and whether an
 * object within it has an own `__proto__` key.
 */
export function jsonShape(value: unknown, limit: number): { depth: number; protoKey: boolean } {
  let deepest = 0;
  let protoKey = false;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (typeof node !== 'object' || node === null) continue;
    if (depth > deepest) deepest = depth;
    if (deepest > limit) return { depth: deepest, protoKey };
    if (!protoKey && !Array.isArray(node) && Object.hasOwn(node, '__proto__')) protoKey = true;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return { depth: deepest, protoKey };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

async function parseJsonBody(ctx: Context, limitBytes: number): Promise<unknown> {
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > limitBytes) throw tooLarge(limitBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limitBytes) throw tooLarge(limitBytes);
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof HttpError || !ctx.req.destroyed) throw error;
    // The client went away before its body was whole: its fault, not the server's (no 5xx, no error log).
    throw new HttpError(
      'client_closed',
      'the client closed the connection before its body was read',
      'invalid',
    );
  }
  const bytes = Buffer.concat(chunks);
  if (bytes.every(isJsonSpace)) return {};
  const type = ctx.get('content-type');
  if (type && !/^application\/([\w.+-]*\+)?json\b/i.test(type)) {
    throw new HttpError(
      'unsupported_media_type',
      `expected application/json, got ${type}`,
      'unsupported_media',
    );
  }
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(type)?.[1];
  if (charset !== undefined && !/^utf-?8$/i.test(charset))
    throw new HttpError(
      'unsupported_media_type',
      `JSON is read as UTF-8 only, got charset ${charset}`,
      'unsupported_media',
    );
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new HttpError('invalid_json', 'request body is not valid UTF-8', 'invalid');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new HttpError(
      'invalid_json',
      `request body is not valid JSON: ${(error as Error).message}`,
      'invalid',
    );
  }
}

/** Fatal: a byte sequence that is not UTF-8 is refused, not read as U+FFFD. A leading BOM is dropped. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The whitespace JSON allows around a value (an all-blank body reads as `{}`). */
const isJsonSpace = (byte: number) => byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;

const tooLarge = (limit: number) =>
  new HttpError('payload_too_large', `request body exceeds the limit of ${limit} bytes`, 'too_large');
