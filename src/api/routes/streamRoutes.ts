import type { Context } from 'koa';
import type { z } from 'zod';
import type { JobStatus } from '../../domain/events.ts';
import { EVENT_TYPES, isTerminal } from '../../domain/events.ts';
import { jobStreamName } from '../../infra/eventstore/eventStore.ts';
import type { ApiDeps } from '../apiDeps.ts';
import { badRequest, HttpError, invalidInput, notFound } from '../errors.ts';
import type { AnyRoute } from '../route.ts';
import { errorResponses, route } from '../route.ts';
import { allStreamQuery, jobIdParams, jobStreamQuery, positionCursor, seqCursor } from '../schemas.ts';
import { buildAsyncApi } from '../sse/asyncApi.ts';
import type { AllFeedFilter, FeedErrorHandler } from '../sse/eventFeed.ts';
import { AllJobsFeed, JobStreamFeed } from '../sse/eventFeed.ts';
import { openStream } from '../sse/openStream.ts';
import { wireStyle } from '../sse/wireFrames.ts';

const sseHeaders = {
  'Last-Event-ID':
    'resume after this id (seq for a job stream, position for the all-jobs stream); validated like after',
};

const streamResponses = {
  200: { description: 'an event stream (see GET /asyncapi.json)', contentType: 'text/event-stream' },
  429: { description: 'too many live streams for this token or this server; Retry-After says when to retry' },
};

/** `Last-Event-ID`, read with the same schema as `after` (one rule for both ways to resume). */
function lastEventId<S extends z.ZodType>(ctx: Context, schema: S): z.output<S> | undefined {
  const value = ctx.get('last-event-id').trim();
  if (!value) return undefined;
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalidInput('Last-Event-ID header', parsed.error);
  return parsed.data;
}

export function streamRoutes(deps: ApiDeps): AnyRoute[] {
  const refuseWhileClosing = () => {
    if (deps.isShuttingDown()) throw new HttpError('shutting_down', 'the server is shutting down', 503);
  };

  /** A job's last seq and status in the store; undefined when the job does not exist. */
  const headOf = async (jobId: string): Promise<{ seq: number; status: JobStatus } | undefined> => {
    for await (const e of deps.store.readStream(jobStreamName(jobId), {
      direction: 'backwards',
      maxCount: 1,
    })) {
      return { seq: e.revision, status: (e.data as { status: JobStatus }).status };
    }
    return undefined;
  };

  const onFeedError = feedFailed(deps);
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
      path: '/jobs/{id}/events/stream',
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
      handler: async (ctx, { params, query }) => {
        refuseWhileClosing();
        const fromHeader = lastEventId(ctx, seqCursor);
        const head = await headOf(params.id);
        if (head === undefined) throw notFound(`job ${params.id} not found`);
        let after: number;
        if (fromHeader !== undefined) after = fromHeader;
        else if (query.after !== undefined) after = query.after;
        else if (query.since !== undefined) {
          const first = deps.readModel.jobEvents(params.id, { since: query.since, limit: 1 }).events[0];
          after = first ? (JSON.parse(first) as { seq: number }).seq - 1 : head.seq;
        } else after = head.seq;
        const resumed = fromHeader !== undefined || query.after !== undefined || query.since !== undefined;
        if (isTerminal(head.status) && resumed && after >= head.seq) {
          // The standard way to tell an EventSource to stop reconnecting: the job has nothing more.
          ctx.status = 204;
          ctx.set('Cache-Control', 'no-cache');
          return;
        }
        if (after > head.seq)
          throw badRequest(`resume point ${after} is past the job's last event (seq ${head.seq})`, {
            after,
            head: head.seq,
          });
        const style = wireStyle(query);
        const session = openStream(deps, ctx, { jobId: params.id, style });
        ctx.respond = false;
        session.open(deps.config.streaming.retry_ms, {
          job_id: params.id,
          after,
          server_time: deps.clock().toISOString(),
        });
        new JobStreamFeed(deps.store, deps.tail, session, params.id, after, style, onFeedError).start();
      },
    }),
    route({
      method: 'get',
      path: '/events/stream',
      tag: 'events',
      summary:
        'SSE: every job from Last-Event-ID / after / since / now, then live; id = position; frames=named, names=alias',
      role: 'viewer',
      queryToken: true,
      query: allStreamQuery,
      headers: sseHeaders,
      responses: { ...streamResponses, ...errorResponses(400, 401) },
      handler: async (ctx, { query }) => {
        refuseWhileClosing();
        const filter: AllFeedFilter = { jobId: query.job };
        if (query.type) {
          const types = query.type.split(',').filter(Boolean);
          const unknown = types.filter((t) => !(EVENT_TYPES as readonly string[]).includes(t));
          if (unknown.length > 0)
            throw badRequest(`unknown event type(s): ${unknown.join(', ')}`, { unknown });
          filter.types = new Set(types);
        }
        const fromHeader = lastEventId(ctx, positionCursor);
        let after: bigint;
        if (fromHeader !== undefined) after = BigInt(fromHeader);
        else if (query.after !== undefined) after = BigInt(query.after);
        else if (query.since !== undefined) after = positionBefore(deps, query.since);
        else {
          await deps.tail.ready;
          after = deps.tail.position() ?? -1n;
        }
        const style = wireStyle(query);
        const session = openStream(deps, ctx, { jobId: null, style });
        ctx.respond = false;
        session.open(deps.config.streaming.retry_ms, {
          after: after.toString(),
          server_time: deps.clock().toISOString(),
        });
        new AllJobsFeed(deps.store, deps.tail, session, after, filter, style, onFeedError).run();
      },
    }),
  ];
}

/**
 * The feed runs on its own once the stream is open: the route returns at once, so no middleware frame (nor
 * koa's context) stays held for the life of the connection.
 */
function feedFailed(deps: ApiDeps): FeedErrorHandler {
  return (error, session) => {
    deps.logger.error({ err: error }, 'SSE stream failed');
    session.cutOff('server error');
  };
}

/**
 * The `after` that starts the all-jobs stream at the first event at or after `since`: one lookup in the read
 * model's time index. When every projected event is older, the stream starts after the read model's
 * checkpoint (whatever came after it is newer still).
 */
function positionBefore(deps: ApiDeps, since: string): bigint {
  const { first, checkpoint } = deps.readModel.positionSince(since);
  if (first !== null) return BigInt(first) - 1n;
  return checkpoint === null ? -1n : BigInt(checkpoint);
}
