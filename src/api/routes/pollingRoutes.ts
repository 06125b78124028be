import type { Context } from 'koa';
import type { NameStyle } from '../../domain/events.ts';
import { renderEventJson } from '../../domain/events.ts';
import type { ApiDeps } from '../apiDeps.ts';
import { notFound } from '../errors.ts';
import type { AnyRoute } from '../route.ts';
import { errorResponses, route } from '../route.ts';
import {
  globalEventsPageSchema,
  globalEventsQuery,
  jobEventsPageSchema,
  jobEventsQuery,
  jobIdParams,
} from '../schemas.ts';

const DEFAULT_LIMIT = 100;

/** The events of a page as one JSON array, under the names the reader asked for. */
const eventsArray = (events: readonly string[], names: NameStyle | undefined): string =>
  `[${(names === 'alias' ? events.map((e) => renderEventJson(e, 'alias')) : events).join(',')}]`;

/**
 * Resolves after the projections applied a batch, after `ms`, when the client goes away, or when the server
 * starts to shut down (the poll then answers with what it has, instead of being cut off unanswered).
 */
function nextBatch(deps: ApiDeps, ctx: Context, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      unsubscribe();
      ctx.req.off('close', done);
      deps.shutdown?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const unsubscribe = deps.projections.onApplied(done);
    ctx.req.once('close', done);
    deps.shutdown?.addEventListener('abort', done);
  });
}

/** Whether a long-poll may wait on: time left, the client there, the server not shutting down. */
const mayWait = (deps: ApiDeps, ctx: Context, deadline: number): boolean =>
  Date.now() < deadline && !ctx.req.destroyed && !deps.isShuttingDown();

export function pollingRoutes(deps: ApiDeps): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/jobs/{id}/events',
      tag: 'events',
      summary:
        'poll a job: chronological; since inclusive (naive = UTC, or a date), after exclusive; limit clamped to 1000; wait long-polls up to 30 s; names=alias',
      role: 'viewer',
      params: jobIdParams,
      query: jobEventsQuery,
      responses: {
        200: { description: 'a page of events', schema: jobEventsPageSchema },
        ...errorResponses(400, 401, 404),
      },
      handler: async (ctx, { params, query }) => {
        const limit = query.limit ?? DEFAULT_LIMIT;
        const cursor = { after: query.after, since: query.since, limit };
        let page = deps.readModel.knownJobEvents(params.id, cursor);
        if (!page) throw notFound(`job ${params.id} not found`);
        const deadline = Date.now() + (query.wait ?? 0) * 1000;
        const hasCursor = query.after !== undefined || query.since !== undefined;
        while (page.events.length === 0 && hasCursor && mayWait(deps, ctx, deadline)) {
          await nextBatch(deps, ctx, deadline - Date.now());
          page = deps.readModel.jobEvents(params.id, cursor);
        }
        ctx.type = 'application/json';
        ctx.body = `{"job_id":${JSON.stringify(params.id)},"events":${eventsArray(page.events, query.names)},"next_after":${page.next_after},"head":${page.head},"limit":${limit}}`;
      },
    }),
    route({
      method: 'get',
      path: '/events',
      tag: 'events',
      summary:
        'poll every job by global position (audit tools); limit clamped to 1000; wait long-polls up to 30 s; names=alias',
      role: 'viewer',
      query: globalEventsQuery,
      responses: {
        200: { description: 'a page of events', schema: globalEventsPageSchema },
        ...errorResponses(400, 401),
      },
      handler: async (ctx, { query }) => {
        const after = query.after === undefined || query.after === '-1' ? null : query.after;
        const limit = query.limit ?? DEFAULT_LIMIT;
        const ask = () =>
          deps.readModel.eventsAfterPosition(after, limit, {
            jobId: query.job,
            types: query.type ? [query.type] : undefined,
          });
        let page = ask();
        const deadline = Date.now() + (query.wait ?? 0) * 1000;
        while (page.events.length === 0 && mayWait(deps, ctx, deadline)) {
          await nextBatch(deps, ctx, deadline - Date.now());
          page = ask();
        }
        ctx.type = 'application/json';
        ctx.body = `{"events":${eventsArray(page.events, query.names)},"next_after":${JSON.stringify(page.next_after)},"limit":${limit}}`;
      },
    }),
  ];
}
