import type { EventStore } from '../../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX } from '../../infra/eventstore/eventStore.ts';
import type { ApiDeps } from '../apiDeps.ts';
import { HttpError } from '../errors.ts';
import type { AnyRoute } from '../route.ts';
import { route } from '../route.ts';
import { healthSchema } from '../schemas.ts';

/** How far behind the store head the projections may be for the server to count as ready. */
const READY_LAG_EVENTS = 1000;

/**
 * The job events the projections have not applied yet. On LMDB a position is the event's sequence number,
 * so the difference from the head is the count. On EventStoreDB a position is an offset in the server's
 * log, and the head also moves with events the projections do not follow (the lease stream's renewals), so
 * the job events after the checkpoint are counted instead, up to `READY_LAG_EVENTS + 1`.
 */
async function lagEvents(deps: ApiDeps, head: string | null, checkpoint: string | null): Promise<number> {
  if (head === null) return 0;
  if (deps.config.store.kind !== 'eventstoredb') return Number(BigInt(head) - BigInt(checkpoint ?? '-1'));
  return countJobEventsAfter(deps.store, checkpoint, READY_LAG_EVENTS + 1);
}

async function countJobEventsAfter(store: EventStore, after: string | null, cap: number): Promise<number> {
  let count = 0;
  // `fromPosition` is inclusive: the checkpoint's own event is skipped.
  for await (const event of store.readAll({
    fromPosition: after ?? 'start',
    maxCount: cap + 1,
    filter: { streamNamePrefix: [JOB_STREAM_PREFIX] },
  })) {
    if (event.position !== after) count++;
    if (count >= cap) break;
  }
  return count;
}

export function systemRoutes(deps: ApiDeps, openapi: () => unknown): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/healthz',
      tag: 'system',
      summary: 'liveness',
      role: 'public',
      responses: { 200: { description: 'alive', schema: healthSchema } },
      handler: (ctx) => {
        ctx.body = { status: 'ok' };
      },
    }),
    route({
      method: 'get',
      path: '/readyz',
      tag: 'system',
      summary:
        'readiness: store open, projections caught up within a bound; with EventStoreDB `role`: leader or standby',
      role: 'public',
      responses: { 200: { description: 'ready', schema: healthSchema }, 503: { description: 'not ready' } },
      handler: async (ctx) => {
        if (deps.isShuttingDown()) throw new HttpError('not_ready', 'shutting down', 503);
        const head = await deps.store.headPosition();
        const checkpoint = await deps.projections.checkpoint();
        const lag = await lagEvents(deps, head, checkpoint);
        if (lag > READY_LAG_EVENTS) {
          throw new HttpError('not_ready', `projections are ${lag} events behind the store`, 503, {
            head,
            checkpoint,
          });
        }
        ctx.body = {
          status: 'ready',
          store_head: head,
          projection_checkpoint: checkpoint,
          lag_events: lag,
          ...(deps.leaseRole ? { role: deps.leaseRole() } : {}),
        };
      },
    }),
    route({
      method: 'get',
      path: '/metrics',
      tag: 'system',
      summary: 'Prometheus metrics',
      role: 'public',
      responses: { 200: { description: 'text exposition format', contentType: 'text/plain' } },
      handler: async (ctx) => {
        const head = await deps.store.headPosition();
        const checkpoint = await deps.projections.checkpoint();
        if (head !== null)
          deps.metrics.projectionLag.set({ projection: 'all' }, await lagEvents(deps, head, checkpoint));
        ctx.type = deps.metrics.registry.contentType;
        ctx.body = await deps.metrics.registry.metrics();
      },
    }),
    route({
      method: 'get',
      path: '/openapi.json',
      tag: 'system',
      summary: 'this document',
      role: 'public',
      responses: { 200: { description: 'OpenAPI 3.1' } },
      handler: (ctx) => {
        ctx.body = openapi();
      },
    }),
  ];
}
