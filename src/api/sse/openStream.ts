import type { Context } from 'koa';
import type { ApiDeps } from '../apiDeps.ts';
import type { Principal } from '../auth.ts';
import { TooManyStreamsError } from './sseHub.ts';
import type { SseSession } from './sseSession.ts';
import type { WireStyle } from './wireFrames.ts';

/**
 * Opens a live stream for the request's token, within `streaming.max_streams_per_token` and
 * `streaming.max_streams`: over either, a 429 with `Retry-After` and the error shape (nothing written yet).
 * Event streams and log follows both come through here, so both count.
 */
export function openStream(
  deps: ApiDeps,
  ctx: Context,
  heartbeat: { jobId: string | null; style: WireStyle },
): SseSession {
  const { streaming } = deps.config;
  const owner = (ctx.state.principal as Principal | undefined)?.name ?? '';
  try {
    return deps.hub.open(ctx.res, {
      owner,
      heartbeat,
      limits: {
        perOwner: streaming.max_streams_per_token,
        total: streaming.max_streams,
        retryAfterSeconds: Math.max(1, Math.ceil(streaming.retry_ms / 1000)),
      },
    });
  } catch (error) {
    if (error instanceof TooManyStreamsError) ctx.set('Retry-After', String(error.retryAfterSeconds));
    throw error;
  }
}
