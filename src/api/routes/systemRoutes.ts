import type { ApiDeps } from '../apiDeps.ts';
import { HttpError } from '../errors.ts';
import type { AnyRoute } from '../route.ts';
import { route } from '../route.ts';
import { healthSchema } from '../schemas.ts';

/** How far behind the store head the projections may be for the server to count as ready. */
const READY_LAG_EVENTS = 1000;

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
      summary: 'readiness: store open, projections caught up within a bound',
      role: 'public',
      responses: { 200: { description: 'ready', schema: healthSchema }, 503: { description: 'not ready' } },
      handler: async (ctx) => {
        if (deps.isShuttingDown()) throw new HttpError('not_ready', 'shutting down', 503);
        const head = await deps.store.headPosition();
        const checkpoint = await deps.projections.checkpoint();
        const lag = head === null ? 0 : Number(BigInt(head) - BigInt(checkpoint ?? '-1'));
        if (lag > READY_LAG_EVENTS) {
          throw new HttpError('not_ready', `projections are ${lag} events behind the store`, 503, {
            head,
            checkpoint,
          });
        }
        ctx.body = { status: 'ready', store_head: head, projection_checkpoint: checkpoint, lag_events: lag };
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
          deps.metrics.projectionLag.set(
            { projection: 'all' },
            Number(BigInt(head) - BigInt(checkpoint ?? '-1')),
          );
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
