import type { Context } from 'koa';
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

/** Resolves after the projections applied a batch, after `ms`, or when the client goes away. */
function nextBatch(deps: ApiDeps, ctx: Context, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      unsubscribe();
      ctx.req.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const unsubscribe = deps.projections.onApplied(done);
    ctx.req.once('close', done);
  });
}

export function pollingRoutes(deps: ApiDeps): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/jobs/{id}/events',
      tag: 'events',
      summary: 'poll a job: chronological; since inclusive, after exclusive; wait long-polls up to 30 s',
      role: 'viewer',
      params: jobIdParams,
      query: jobEventsQuery,
      responses: {
        200: { description: 'a page of events', schema: jobEventsPageSchema },
        ...errorResponses(400, 401, 404),
      },
      handler: async (ctx, { params, query }) => {
        if (!deps.readModel.getJob(params.id)) throw notFound(`job ${params.id} not found`);
        const ask = () =>
          deps.readModel.jobEvents(params.id, {
            after: query.after,
            since: query.since,
            limit: query.limit ?? 100,
          });
        let page = ask();
        const deadline = Date.now() + (query.wait ?? 0) * 1000;
        const hasCursor = query.after !== undefined || query.since !== undefined;
        while (page.events.length === 0 && hasCursor && Date.now() < deadline && !ctx.req.destroyed) {
          await nextBatch(deps, ctx, deadline - Date.now());
          page = ask();
        }
        ctx.type = 'application/json';
        ctx.body = `{"job_id":${JSON.stringify(params.id)},"events":[${page.events.join(',')}],"next_after":${page.next_after},"head":${page.head}}`;
      },
    }),
    route({
      method: 'get',
      path: '/events',
      tag: 'events',
      summary: 'poll every job by global position (audit tools); wait long-polls up to 30 s',
      role: 'viewer',
      query: globalEventsQuery,
      responses: {
        200: { description: 'a page of events', schema: globalEventsPageSchema },
        ...errorResponses(400, 401),
      },
      handler: async (ctx, { query }) => {
        const after = query.after === undefined || query.after === '-1' ? null : query.after;
        const ask = () =>
          deps.readModel.eventsAfterPosition(after, query.limit ?? 100, {
            jobId: query.job,
            types: query.type ? [query.type] : undefined,
          });
        let page = ask();
        const deadline = Date.now() + (query.wait ?? 0) * 1000;
        while (page.events.length === 0 && Date.now() < deadline && !ctx.req.destroyed) {
          await nextBatch(deps, ctx, deadline - Date.now());
          page = ask();
        }
        ctx.type = 'application/json';
        ctx.body = `{"events":[${page.events.join(',')}],"next_after":${JSON.stringify(page.next_after)}}`;
      },
    }),
  ];
}
