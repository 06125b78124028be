import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { z } from 'zod';
import { isOperatorError, OperatorError } from '../domain/errors.ts';
import { isStorageFullError } from '../infra/files/storageFull.ts';

/** The one error shape every failure answers with. */
export const errorBodySchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});

export class HttpError extends OperatorError {}

export const badRequest = (message: string, details?: unknown) =>
  new HttpError('bad_request', message, 400, details);
export const unauthorized = (message: string) => new HttpError('unauthorized', message, 401);
export const forbidden = (message: string) => new HttpError('forbidden', message, 403);
export const notFound = (message: string) => new HttpError('not_found', message, 404);

/** Turns a zod failure into a 400 with the issues in `details`. */
export function invalidInput(where: string, error: z.ZodError): HttpError {
  const issues = error.issues.map((i) => ({
    path: i.path.map(String).join('.'),
    message: i.message,
    code: i.code,
  }));
  const first = issues[0];
  const summary = first ? `${first.path ? `${first.path}: ` : ''}${first.message}` : 'invalid';
  return new HttpError('invalid_input', `invalid ${where}: ${summary}`, 400, issues);
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
 * Maps every thrown error to the single JSON shape. Operator errors keep their status; koa's own client
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
        // The router's 405/501 answers come without a body: give them the one shape too.
        else if (ctx.status === 405)
          sendError(
            ctx,
            405,
            'method_not_allowed',
            `${ctx.method} is not allowed on ${ctx.path} (allowed: ${ctx.response.get('Allow') || 'none'})`,
          );
        else if (ctx.status === 501)
          sendError(ctx, 501, 'not_implemented', `method ${ctx.method} is not implemented`);
      }
    } catch (error) {
      if (ctx.headerSent || ctx.respond === false) {
        logger.warn({ err: error, requestId }, 'error after the response started');
        return;
      }
      if (isOperatorError(error)) {
        sendError(ctx, error.status, error.code, error.message, error.details);
        return;
      }
      const status = (error as { status?: unknown }).status;
      const expose = (error as { expose?: unknown }).expose;
      if (typeof status === 'number' && status >= 400 && status < 500 && expose !== false) {
        sendError(ctx, status, 'bad_request', (error as Error).message || 'bad request');
        return;
      }
      if (isStorageFullError(error)) {
        // Not a fault of the request, and not a bug: the client may retry once space is freed. One warn line
        // per refused request, without the stack, so a full disk does not also flood the log.
        logger.warn({ requestId, method: ctx.method, reason: (error as Error).message }, 'storage full');
        sendError(ctx, 507, 'insufficient_storage', 'the server is out of storage space: try again later');
        return;
      }
      logger.error({ err: error, requestId, method: ctx.method }, 'request failed');
      sendError(ctx, 500, 'internal', `internal error (request id ${requestId})`);
    }
  };
}
