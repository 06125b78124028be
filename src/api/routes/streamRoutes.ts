import type { Context } from 'koa';
import { EVENT_TYPES } from '../../domain/events.ts';
import { jobStreamName } from '../../infra/eventstore/eventStore.ts';
import type { ApiDeps } from '../apiDeps.ts';
import { badRequest, HttpError, notFound } from '../errors.ts';
import type { AnyRoute } from '../route.ts';
import { errorResponses, route } from '../route.ts';
import { allStreamQuery, jobIdParams, jobStreamQuery } from '../schemas.ts';
import type { AllFeedFilter } from '../sse/eventFeed.ts';
import { allJobsFeed, jobFeed } from '../sse/eventFeed.ts';
import type { SseSession } from '../sse/sseSession.ts';

const sseHeaders = {
  'Last-Event-ID': 'resume after this id (seq for a job stream, position for the all-jobs stream)',
};

function lastEventId(ctx: Context, pattern: RegExp): string | undefined {
  const value = ctx.get('last-event-id').trim();
  if (!value) return undefined;
  if (!pattern.test(value)) throw badRequest(`Last-Event-ID ${JSON.stringify(value)} is not a valid id here`);
  return value;
}

export function streamRoutes(deps: ApiDeps): AnyRoute[] {
  const refuseWhileClosing = () => {
    if (deps.isShuttingDown()) throw new HttpError('shutting_down', 'the server is shutting down', 503);
  };

  /** The last seq of a job in the store, or -1; undefined when the job does not exist. */
  const headSeq = async (jobId: string): Promise<number | undefined> => {
    for await (const e of deps.store.readStream(jobStreamName(jobId), {
      direction: 'backwards',
      maxCount: 1,
    })) {
      return e.revision;
    }
    return undefined;
  };

  return [
    route({
      method: 'get',
      path: '/jobs/{id}/events/stream',
      tag: 'events',
      summary:
        'SSE: a job from Last-Event-ID / after / since / now, then live; id = seq; ends after a terminal event',
      role: 'viewer',
      params: jobIdParams,
      query: jobStreamQuery,
      headers: sseHeaders,
      responses: {
        200: { description: 'an event stream', contentType: 'text/event-stream' },
        ...errorResponses(400, 401, 404),
      },
      handler: async (ctx, { params, query }) => {
        refuseWhileClosing();
        const head = await headSeq(params.id);
        if (head === undefined) throw notFound(`job ${params.id} not found`);
        const fromHeader = lastEventId(ctx, /^-?\d+$/);
        let after: number;
      queryToken: true,
        if (fromHeader !== undefined) after = Number(fromHeader);
        else if (query.after !== undefined) after = query.after;
        else if (query.since !== undefined) {
          const first = deps.readModel.jobEvents(params.id, { since: query.since, limit: 1 }).events[0];
          after = first ? (JSON.parse(first) as { seq: number }).seq - 1 : head;
        } else after = head;
        const session = deps.hub.open(ctx.res);
        ctx.respond = false;
        session.open(deps.config.streaming.retry_ms, {
          job_id: params.id,
          after,
          server_time: deps.clock().toISOString(),
        });
        detach(deps, session, pumpJob(deps, session, params.id, after));
      },
    }),
    route({
      method: 'get',
      path: '/events/stream',
      tag: 'events',
      summary: 'SSE: every job from Last-Event-ID / after / since / now, then live; id = position',
      role: 'viewer',
      query: allStreamQuery,
      headers: sseHeaders,
      responses: {
        200: { description: 'an event stream', contentType: 'text/event-stream' },
        ...errorResponses(400, 401),
      },
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
        const fromHeader = lastEventId(ctx, /^(\d+|-1)$/);
        let after: bigint;
        if (fromHeader !== undefined) after = BigInt(fromHeader);
        else if (query.after !== undefined) after = BigInt(query.after);
        else if (query.since !== undefined) after = positionBefore(deps, query.since);
        else {
          await deps.tail.ready;
          after = deps.tail.position() ?? -1n;
        }
        const session = deps.hub.open(ctx.res);
        ctx.respond = false;
        session.open(deps.config.streaming.retry_ms, {
      queryToken: true,
          after: after.toString(),
          server_time: deps.clock().toISOString(),
        });
        detach(deps, session, pumpAll(deps, session, after, filter));
      },
    }),
  ];
}

/**
 * The pump runs on its own once the stream is open: the route returns at once, so no middleware frame stays
 * suspended for the life of the connection (they cost memory per idle client).
 */
function detach(deps: ApiDeps, session: SseSession, pump: Promise<void>): void {
  pump.catch((error: unknown) => {
    deps.logger.error({ err: error }, 'SSE stream failed');
    session.cutOff('server error');
  });
}

async function pumpJob(deps: ApiDeps, session: SseSession, jobId: string, after: number): Promise<void> {
  const feed = jobFeed(deps.store, deps.tail, jobId, after, session.signal);
  let last = after;
  for (;;) {
    const next = await feed.next();
    if (next.done) {
      if (next.value === 'ended')
        session.end(`event: end\ndata: ${JSON.stringify({ job_id: jobId, seq: last })}\n\n`);
      return;
    }
    last = next.value.event.seq;
    if (!(await session.send(next.value.frameForJob()))) {
      await feed.return('aborted');
      return;
    }
  }
}

async function pumpAll(
  deps: ApiDeps,
  session: SseSession,
  after: bigint,
  filter: AllFeedFilter,
): Promise<void> {
  for await (const wire of allJobsFeed(deps.store, deps.tail, after, filter, session.signal)) {
    if (!(await session.send(wire.frameForAll()))) return;
  }
}

/** The position just before the first event at or after `since` (a scan of the read model's global index). */
function positionBefore(deps: ApiDeps, since: string): bigint {
  const target = Date.parse(since);
  let after: string | null = null;
  let previous = -1n;
  for (;;) {
    const page = deps.readModel.eventsAfterPosition(after, 1000);
    for (const json of page.events) {
      const event = JSON.parse(json) as { ts: string; position: string };
      if (Date.parse(event.ts) >= target) return previous;
      previous = BigInt(event.position);
    }
    if (page.next_after === null || page.events.length === 0) return previous;
    after = page.next_after;
  }
}
