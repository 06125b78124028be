import type { Gauge } from 'prom-client';
import { z } from 'zod';
import type { ApiDeps } from '../apiDeps.ts';
import type { AnyRoute } from '../route.ts';
import { errorResponses, route } from '../route.ts';
import { lagEvents } from './systemRoutes.ts';

/** Queued jobs counted page by page up to this many; past it the answer says `queued_capped`. */
const QUEUE_COUNT_CAP = 10_000;
const QUEUE_PAGE = 1000;

/**
 * The webhook endpoint gauge (registered with the webhook service's state, see `stateGauges.ts`): the one
 * place that decides whether an endpoint is healthy, failing or disabled, read here instead of a second copy.
 */
const WEBHOOK_ENDPOINTS_GAUGE = 'operator_webhook_endpoints';

export const opsStatusSchema = z.object({
  projections: z.object({
    head: z.string().nullable().describe('the store head position'),
    checkpoint: z.string().nullable().describe('the lowest checkpoint of the projections'),
    lag_events: z.number().int().describe('job events the projections have not applied yet'),
  }),
  streams: z.object({
    clients: z.number().int().describe('live SSE streams this process serves now'),
    cut_off_total: z.number().int().describe('SSE clients disconnected for not reading, since start'),
  }),
  webhooks: z
    .object({
      endpoints: z.number().int(),
      failing: z.number().int().describe('enabled endpoints whose every attempt fails since a time'),
      disabled: z.number().int(),
    })
    .nullable()
    .describe('null when this process keeps no webhook state'),
  queue: z.object({
    queued: z.number().int().describe('jobs waiting for a lane'),
    queued_capped: z.boolean().describe(`true when the count stopped at ${QUEUE_COUNT_CAP}`),
  }),
  at: z.string().describe('server time of this answer'),
});

export type OpsStatus = z.infer<typeof opsStatusSchema>;

/** Counts queued jobs through the read model's status index, a page at a time, up to the cap. */
function countQueued(deps: ApiDeps): { queued: number; queued_capped: boolean } {
  let queued = 0;
  let cursor: string | undefined;
  while (queued < QUEUE_COUNT_CAP) {
    const page = deps.readModel.listJobs({ status: 'queued', limit: QUEUE_PAGE, cursor });
    queued += page.jobs.length;
    if (page.next_cursor === null) return { queued, queued_capped: false };
    cursor = page.next_cursor;
  }
  return { queued: QUEUE_COUNT_CAP, queued_capped: true };
}

async function webhookCounts(deps: ApiDeps): Promise<OpsStatus['webhooks']> {
  const gauge = deps.metrics.registry.getSingleMetric(WEBHOOK_ENDPOINTS_GAUGE) as Gauge | undefined;
  if (!gauge) return null;
  const counts: Record<string, number> = {};
  for (const { labels, value } of (await gauge.get()).values) counts[String(labels['state'])] = value;
  const failing = counts['failing'] ?? 0;
  const disabled = counts['disabled'] ?? 0;
  return { endpoints: (counts['healthy'] ?? 0) + failing + disabled, failing, disabled };
}

/**
 * `GET /status/ops`: the few figures the UI's ops strip shows (projection lag, live streams, failing webhook
 * endpoints, queue length) as JSON, so the page never parses the Prometheus text. Operators and admins only:
 * it says how the whole system is doing, not one job.
 */
export function opsRoutes(deps: ApiDeps): AnyRoute[] {
  return [
    route({
      method: 'get',
      path: '/status/ops',
      tag: 'system',
      summary: 'projection lag, live stream clients, webhook endpoints failing or disabled, queue length',
      role: 'operator',
      responses: {
        200: { description: 'the ops figures', schema: opsStatusSchema },
        ...errorResponses(401, 403),
      },
      handler: async (ctx) => {
        const head = await deps.store.headPosition();
        const checkpoint = await deps.projections.checkpoint();
        const cutOff = (await deps.metrics.sseCutOff.get()).values[0]?.value ?? 0;
        const body: OpsStatus = {
          projections: { head, checkpoint, lag_events: await lagEvents(deps, head, checkpoint) },
          streams: { clients: deps.hub.size, cut_off_total: cutOff },
          webhooks: await webhookCounts(deps),
          queue: countQueued(deps),
          at: deps.clock().toISOString(),
        };
        ctx.body = body;
      },
    }),
  ];
}
