import type { Context } from 'koa';
import { HttpError } from './errors.ts';

/**
 * Reads a JSON request body with a size limit: 413 past the limit, 400 for malformed JSON or a wrong
 * content type. An empty body reads as `{}`.
 */
export async function readJsonBody(ctx: Context, limitBytes: number): Promise<unknown> {
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > limitBytes) throw tooLarge(limitBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) throw tooLarge(limitBytes);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  const type = ctx.get('content-type');
  if (type && !/^application\/([\w.+-]*\+)?json\b/i.test(type)) {
    throw new HttpError('unsupported_media_type', `expected application/json, got ${type}`, 415);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new HttpError('invalid_json', `request body is not valid JSON: ${(error as Error).message}`, 400);
  }
}

const tooLarge = (limit: number) =>
  new HttpError('payload_too_large', `request body exceeds the limit of ${limit} bytes`, 413);
