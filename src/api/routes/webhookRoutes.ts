import { z } from 'zod';
import { EVENT_TYPES, JOB_ID_PATTERN, JOB_ID_RULE } from '../../domain/events.ts';
import { WEBHOOK_SECRET_PATTERN } from '../../infra/config/webhooksConfig.ts';
import type { WebhookEndpoints } from '../../webhooks/index.ts';
import { ERROR_CLASSES } from '../../webhooks/index.ts';
import type { AnyRoute } from '../route.ts';
import { errorResponses, route } from '../route.ts';

const nameList = z.array(z.string().regex(JOB_ID_PATTERN, JOB_ID_RULE)).max(1000);

export const createWebhookBody = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }).max(2000),
  description: z.string().max(500).optional(),
  event_types: z.array(z.enum(EVENT_TYPES)).optional().describe('only these event types (default: all)'),
  jobs: nameList.optional().describe('only these job ids (default: all)'),
  pipelines: nameList.optional().describe('only jobs of these pipelines (default: all)'),
  secret: z
    .string()
    .regex(WEBHOOK_SECRET_PATTERN, 'whsec_ followed by base64 of at least 16 bytes')
    .optional()
    .describe('whsec_ + base64; generated when absent'),
});

const webhookParams = z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'not a webhook id') });
const deliveryParams = webhookParams.extend({
  deliveryId: z.string().regex(/^\d{1,20}$/, 'a delivery id is the event position'),
});

const deliveriesQuery = z.object({
  status: z.enum(['pending', 'delivered', 'failed']).optional(),
  limit: z
    .string()
    .regex(/^\d+$/, 'must be an integer')
    .transform(Number)
    .pipe(z.number().int().min(1).max(1000))
    .optional()
    .describe('page size, default 100'),
  cursor: z
    .string()
    .regex(/^\d{1,20}$/, 'next_cursor of the previous page')
    .optional(),
});

export const webhookEndpointSchema = z.object({
  id: z.string(),
  url: z.string(),
  description: z.string().nullable(),
  event_types: z.array(z.enum(EVENT_TYPES)),
  jobs: z.array(z.string()),
  pipelines: z.array(z.string()),
  source: z.enum(['api', 'config']),
  created_at: z.string(),
  created_position: z.string().nullable().describe('events after this position are delivered'),
  enabled: z.boolean(),
  disabled_at: z.string().nullable(),
  disabled_reason: z.string().nullable(),
  failing_since: z.string().nullable(),
  consecutive_failures: z.number().int(),
  last_success_at: z.string().nullable(),
  last_failure_at: z.string().nullable(),
});

/** An attempt's outcome; nothing of what the target answered beyond its status is kept. */
const attemptSchema = z.object({
  at: z.string(),
  status_code: z.number().int().nullable(),
  latency_ms: z.number().describe("until the answer's status line and headers"),
  error_class: z.enum(ERROR_CLASSES).nullable().describe('why it failed; null on a 2xx'),
  error: z.string().nullable(),
});

export const webhookDeliverySchema = z.object({
  id: z.string().describe("the event's position"),
  endpoint_id: z.string(),
  event_id: z.string().describe('sent as webhook-id'),
  position: z.string(),
  job_id: z.string(),
  type: z.enum(EVENT_TYPES),
  status: z.enum(['pending', 'delivered', 'failed']),
  created_at: z.string(),
  next_attempt_at: z.string().nullable(),
  attempt_count: z.number().int(),
  attempts: z.array(attemptSchema).describe('the latest attempts, oldest first'),
  delivered_at: z.string().nullable(),
  failed_at: z.string().nullable(),
});

const createdSchema = z.object({
  webhook: webhookEndpointSchema,
  secret: z.string().describe('whsec_...: shown only in this answer'),
});

/** `/webhooks`: admin only. */
export function webhookRoutes(webhooks: WebhookEndpoints): AnyRoute[] {
  const tag = 'webhooks';
  return [
    route({
      method: 'post',
      path: '/webhooks',
      tag,
      summary: 'register a webhook endpoint; the answer holds its secret, shown only once',
      role: 'admin',
      body: createWebhookBody,
      responses: {
        201: { description: 'registered', schema: createdSchema },
        ...errorResponses(401, 403, 413, 415),
        400: {
          description:
            "invalid input, or a URL whose literal address webhooks may not reach (loopback, private, link-local, ... not in webhooks.allow_targets, or the operator's own port): error.code webhook_target_forbidden",
        },
        409: {
          description:
            'EventStoreDB without webhooks.secret_key: the secret cannot be sealed into the store (error.code webhook_key_missing)',
        },
      },
      handler: async (ctx, { body }) => {
        const { endpoint, secret } = await webhooks.create(body);
        ctx.status = 201;
        ctx.set('Location', `/api/v1/webhooks/${endpoint.id}`);
        ctx.body = { webhook: endpoint, secret };
      },
    }),
    route({
      method: 'get',
      path: '/webhooks',
      tag,
      summary: 'every webhook endpoint (without secrets)',
      role: 'admin',
      responses: {
        200: { description: 'the endpoints', schema: z.object({ webhooks: z.array(webhookEndpointSchema) }) },
        ...errorResponses(401, 403),
      },
      handler: (ctx) => {
        ctx.body = { webhooks: webhooks.list() };
      },
    }),
    route({
      method: 'get',
      path: '/webhooks/{id}',
      tag,
      summary: 'one webhook endpoint, with its failure streak and whether it is disabled',
      role: 'admin',
      params: webhookParams,
      responses: {
        200: { description: 'the endpoint', schema: webhookEndpointSchema },
        ...errorResponses(401, 403, 404),
      },
      handler: (ctx, { params }) => {
        ctx.body = webhooks.get(params.id);
      },
    }),
    route({
      method: 'delete',
      path: '/webhooks/{id}',
      tag,
      summary: 'remove a webhook endpoint and its deliveries',
      role: 'admin',
      params: webhookParams,
      responses: {
        204: { description: 'removed' },
        ...errorResponses(401, 403, 404),
        409: { description: 'the endpoint comes from the configuration file' },
      },
      handler: async (ctx, { params }) => {
        await webhooks.delete(params.id);
        ctx.status = 204;
      },
    }),
    route({
      method: 'post',
      path: '/webhooks/{id}/enable',
      tag,
      summary:
        're-enable a disabled endpoint (failing for too long, or answered 410 Gone); its pending deliveries resume in order',
      role: 'admin',
      params: webhookParams,
      responses: {
        200: { description: 'the endpoint', schema: webhookEndpointSchema },
        ...errorResponses(401, 403, 404),
        400: {
          description: 'its URL names an address webhooks may not reach: error.code webhook_target_forbidden',
        },
      },
      handler: async (ctx, { params }) => {
        ctx.body = await webhooks.enable(params.id);
      },
    }),
    route({
      method: 'post',
      path: '/webhooks/{id}/disable',
      tag,
      summary:
        'pause an endpoint by hand: nothing is sent to it until it is enabled again, its pending deliveries keep their order',
      role: 'admin',
      params: webhookParams,
      responses: {
        200: { description: 'the endpoint', schema: webhookEndpointSchema },
        ...errorResponses(401, 403, 404),
      },
      handler: async (ctx, { params }) => {
        ctx.body = await webhooks.disable(params.id, (ctx.state.principal as { name: string }).name);
      },
    }),
    route({
      method: 'get',
      path: '/webhooks/{id}/deliveries',
      tag,
      summary: "an endpoint's deliveries, newest first, each with its attempts (status code, latency, error)",
      role: 'admin',
      params: webhookParams,
      query: deliveriesQuery,
      responses: {
        200: {
          description: 'a page of deliveries',
          schema: z.object({
            deliveries: z.array(webhookDeliverySchema),
            next_cursor: z.string().nullable(),
          }),
        },
        ...errorResponses(400, 401, 403, 404),
      },
      handler: (ctx, { params, query }) => {
        ctx.body = webhooks.deliveries(params.id, {
          status: query.status,
          limit: query.limit ?? 100,
          cursor: query.cursor,
        });
      },
    }),
    route({
      method: 'get',
      path: '/webhooks/{id}/deliveries/{deliveryId}',
      tag,
      summary: 'one delivery with its attempts',
      role: 'admin',
      params: deliveryParams,
      responses: {
        200: { description: 'the delivery', schema: webhookDeliverySchema },
        ...errorResponses(401, 403, 404),
      },
      handler: (ctx, { params }) => {
        ctx.body = webhooks.delivery(params.id, params.deliveryId);
      },
    }),
    route({
      method: 'post',
      path: '/webhooks/{id}/deliveries/{deliveryId}/redeliver',
      tag,
      summary:
        'send a delivery again now (same webhook-id, fresh retry schedule); it goes before later pending ones',
      role: 'admin',
      params: deliveryParams,
      responses: {
        202: { description: 'queued', schema: webhookDeliverySchema },
        ...errorResponses(401, 403, 404),
        409: { description: 'the endpoint is disabled' },
      },
      handler: async (ctx, { params }) => {
        ctx.status = 202;
        ctx.body = await webhooks.redeliver(params.id, params.deliveryId);
      },
    }),
  ];
}
