import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { z } from 'zod';
import { type ErrorKind, isOperatorError, OperatorError } from '../domain/errors.ts';
import { StorageFullError } from '../infra/eventstore/storeErrors.ts';
import { isStorageFullError } from '../infra/files/storageFull.ts';

/** The one error shape every failure answers with. */
export const errorBodySchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});

/**
 * The one place an error's kind becomes an HTTP status. Every kind has exactly one status, so a code keeps
 * its status as long as it keeps its kind.
 */
export const STATUS_OF_KIND: Readonly<Record<ErrorKind, number>> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unsupported_media: 415,
  unprocessable: 422,
  rate_limited: 429,
  aborted: 499,
  internal: 500,
  unavailable: 503,
  timeout: 504,
  storage_full: 507,
};

/** The HTTP status an operator error answers with. */
export const statusOf = (error: OperatorError): number => STATUS_OF_KIND[error.kind];

/** An error that only the HTTP layer raises (bad request framing, authentication, route-level refusals). */
export class HttpError extends OperatorError {}

export const badRequest = (message: string, details?: unknown) =>
  new HttpError('bad_request', message, 'invalid', details);
export const unauthorized = (message: string) => new HttpError('unauthorized', message, 'unauthenticated');
export const forbidden = (message: string) => new HttpError('forbidden', message, 'forbidden');
export const notFound = (message: string) => new HttpError('not_found', message, 'not_found');

/** Turns a zod failure into a 400 with the issues in `details`. */
export function invalidInput(where: string, error: z.ZodError): HttpError {
  const issues = error.issues.map((i) => ({
    path: i.path.map(String).join('.'),
    message: i.message,
    code: i.code,
  }));
  const first = issues[0];
  const summary = first ? `${first.path ? `${first.path}: ` : ''}${first.message}` : 'invalid';
  return new HttpError('invalid_input', `invalid ${where}: ${summary}`, 'invalid', issues);
}

/** The operator error a thrown value stands for: itself, or a bare storage refusal (ENOSPC, MDB_MAP_FULL). */
export function asOperatorError(error: unknown): OperatorError | undefined {
  if (isOperatorError(error)) return error;
  return isStorageFullError(error) ? new StorageFullError(error) : undefined;
}

/** The message of the innermost cause: what the OS or LMDB said, not the wrapper's sentence. */
function rootMessage(error: unknown): string {
  let current = error;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}

export function sendError(
  ctx: Context,
  status: number,
  code: string,
  message: string,
  details?: unknown,
): void {
  ctx.status = status;
  ctx.body = { error: { code, message, ...(details === undefined ? {} : { details }) } };
}

/**
 * Maps every thrown error to the single JSON shape. Operator errors answer their kind's status; koa's own client
 * errors (e.g. a malformed URL) keep theirs; anything else is a real server fault: 500, logged with the
 * request id.
 */
export function errorMiddleware(logger: Logger) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const requestId = randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
      if (ctx.body === undefined && !ctx.headerSent && ctx.respond !== false) {
        if (ctx.status === 404) sendError(ctx, 404, 'not_found', `no route for ${ctx.method} ${ctx.path}`);
        // The router's 405/501 answers come without a body: give them the one shape too. A method the router
        // does not know (TRACE, PROPFIND) is the client's mistake like any other: 405 on a path that has
        // routes (their methods in Allow), 404 on one that has none; never a 5xx anyone can send.
        else if (ctx.status === 405 || ctx.status === 501) {
          const allowed = ctx.response.get('Allow');
          if (allowed)
            sendError(
              ctx,
              405,
              'method_not_allowed',
              `${ctx.method} is not allowed on ${ctx.path} (allowed: ${allowed})`,
            );
          else {
            ctx.remove('Allow');
            sendError(ctx, 404, 'not_found', `no route for ${ctx.method} ${ctx.path}`);
          }
        }
      }
    } catch (error) {
      if (ctx.headerSent || ctx.respond === false) {
        logger.warn({ err: error, requestId }, 'error after the response started');
        return;
      }
      const answer = errorAnswer(error, { logger, requestId, method: ctx.method });
      ctx.status = answer.status;
      ctx.body = answer.body;
    }
  };
}

export interface ErrorAnswer {
  status: number;
  body: z.infer<typeof errorBodySchema>;
}

/**
 * The status and body a thrown value answers with, for koa's middleware and for the streams served before
 * koa alike: an operator error (a bare full-disk refusal included) its kind's status; a library's exposed
 * client error (http-errors style) its own 4xx as `bad_request`; anything else 500 with the request id. A
 * full disk is logged as one warn line without the stack (it is not a bug, and must not flood the log);
 * a 500 with the error.
 */
export function errorAnswer(
  error: unknown,
  context: { logger: Logger; requestId: string; method: string },
): ErrorAnswer {
  const { logger, requestId, method } = context;
  const known = asOperatorError(error);
  if (known) {
    if (known.kind === 'storage_full')
      logger.warn({ requestId, method, reason: rootMessage(error) }, 'storage full');
    const { code, message, details } = known;
    return {
      status: statusOf(known),
      body: { error: { code, message, ...(details === undefined ? {} : { details }) } },
    };
  }
  const status = (error as { status?: unknown }).status;
  const expose = (error as { expose?: unknown }).expose;
  if (typeof status === 'number' && status >= 400 && status < 500 && expose !== false)
    return {
      status,
      body: { error: { code: 'bad_request', message: (error as Error).message || 'bad request' } },
    };
  logger.error({ err: error, requestId, method }, 'request failed');
  return {
    status: STATUS_OF_KIND.internal,
    body: { error: { code: 'internal', message: `internal error (request id ${requestId})` } },
  };
}
