import type { Context } from 'koa';
import type { ApiDeps } from '../apiDeps.ts';
import type { AnyRoute } from '../route.ts';
import { errorResponses, route } from '../route.ts';
import { allStreamQuery, jobIdParams, jobStreamQuery } from '../schemas.ts';
import { buildAsyncApi } from '../sse/asyncApi.ts';
import { TooManyStreamsError } from '../sse/sseHub.ts';
import type { StreamOutcome } from '../sse/streamOpeners.ts';
import { StreamOpeners } from '../sse/streamOpeners.ts';

const sseHeaders = {
  'Last-Event-ID':
    'resume after this id (seq for a job stream, position for the all-jobs stream); validated like after',
};

const streamResponses = {
  200: { description: 'an event stream (see GET /asyncapi.json)', contentType: 'text/event-stream' },
  429: { description: 'too many live streams for this token or this server; Retry-After says when to retry' },
};

/** Paths of the two event streams, as the route table writes them. */
export const JOB_STREAM_PATH = '/jobs/{id}/events/stream';
export const ALL_STREAM_PATH = '/events/stream';

/**
 * The event streams' routes. A plain `GET` on their exact paths is answered before koa by the stream front
 * (`sse/streamFront.ts`), with the same rules (`StreamOpeners`); these routes document them and serve every
 * other form koa's router accepts (`HEAD`, a trailing slash, other letter case).
 */
export function streamRoutes(deps: ApiDeps): AnyRoute[] {
  const openers = new StreamOpeners(deps);
  let asyncApi: unknown;
  return [
    route({
      method: 'get',
      path: '/asyncapi.json',
      tag: 'events',
      summary: 'the AsyncAPI 3.0 description of the two event streams (messages, ids, resuming, switches)',
      role: 'public',
      responses: { 200: { description: 'AsyncAPI 3.0' } },
      handler: (ctx) => {
        asyncApi ??= buildAsyncApi({ title: 'operator-events streams', version: '1' });
        ctx.body = asyncApi;
      },
    }),
    route({
      method: 'get',
      path: JOB_STREAM_PATH,
      tag: 'events',
      summary:
        'SSE: a job from Last-Event-ID / after / since / now, then live; id = seq; ends after a terminal event; 204 when a finished job has nothing after the resume point; frames=named, names=alias',
      role: 'viewer',
      queryToken: true,
      params: jobIdParams,
      query: jobStreamQuery,
      headers: sseHeaders,
      responses: {
        ...streamResponses,
        204: { description: 'the job is finished and the resume point is at or past its last event: stop' },
        ...errorResponses(400, 401, 404),
      },
      handler: (ctx, { params, query, principal }) =>
        answer(ctx, () =>
          openers.job(params.id, {
            query,
            lastEventId: ctx.get('last-event-id'),
            owner: principal.name,
            res: ctx.res,
          }),
        ),
    }),
    route({
      method: 'get',
      path: ALL_STREAM_PATH,
      tag: 'events',
      summary:
        'SSE: every job from Last-Event-ID / after / since / now, then live; id = position; frames=named, names=alias',
      role: 'viewer',
      queryToken: true,
      query: allStreamQuery,
      headers: sseHeaders,
      responses: { ...streamResponses, ...errorResponses(400, 401) },
      handler: (ctx, { query, principal }) =>
        answer(ctx, () =>
          openers.all({ query, lastEventId: ctx.get('last-event-id'), owner: principal.name, res: ctx.res }),
        ),
    }),
  ];
}

/**
 * A stream opened on koa's response: koa does not answer for it (the route returns once the stream is
 * open, so no middleware frame stays held for the life of the connection); a finished job answers 204.
 */
async function answer(ctx: Context, open: () => Promise<StreamOutcome>): Promise<void> {
  let outcome: StreamOutcome;
  try {
    outcome = await open();
  } catch (error) {
    if (error instanceof TooManyStreamsError) ctx.set('Retry-After', String(error.retryAfterSeconds));
    throw error;
  }
  if (outcome === 'streaming') {
    ctx.respond = false;
    return;
  }
  ctx.status = 204;
}
