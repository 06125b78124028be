import type { ServerResponse } from 'node:http';
import type { Context } from 'koa';
import type { ApiDeps } from '../apiDeps.ts';
import type { Principal } from '../auth.ts';
import { TooManyStreamsError } from './sseHub.ts';
import type { HeartbeatSpec, SseSession } from './sseSession.ts';

/**
 * Registers a live stream for `owner` (a token's name) within `streaming.max_streams_per_token` and
 * `streaming.max_streams`: over either, `TooManyStreamsError` (429; the caller sends `Retry-After`), with
 * nothing written yet. Event streams and log follows both come through here, so both count.
 */
export function openSession(
  deps: ApiDeps,
  res: ServerResponse,
  owner: string,
  heartbeat: HeartbeatSpec,
): SseSession {
  const { streaming } = deps.config;
  return deps.hub.open(res, {
    owner,
    heartbeat,
    limits: {
      perOwner: streaming.max_streams_per_token,
      total: streaming.max_streams,
      retryAfterSeconds: Math.max(1, Math.ceil(streaming.retry_ms / 1000)),
    },
  });
}

/** `openSession` for a koa route: the principal's stream; over a limit, `Retry-After` is set on the answer. */
export function openStream(deps: ApiDeps, ctx: Context, heartbeat: HeartbeatSpec): SseSession {
  const owner = (ctx.state.principal as Principal | undefined)?.name ?? '';
  try {
    return openSession(deps, ctx.res, owner, heartbeat);
  } catch (error) {
    if (error instanceof TooManyStreamsError) ctx.set('Retry-After', String(error.retryAfterSeconds));
    throw error;
  }
}
