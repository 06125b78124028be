import { z } from 'zod';
import { eventTypeSchema, JOB_ID_PATTERN, JOB_ID_RULE } from '../../domain/events.ts';
import { durationSchema } from '../../domain/pipeline.ts';
import { parseAllowTarget } from '../net/allowTarget.ts';
import { OutboundPolicy, targetRefusalMessage } from '../net/outboundPolicy.ts';

/** `whsec_` + base64 of the key bytes (the Standard Webhooks convention), at least 16 key bytes. */
export const WEBHOOK_SECRET_PATTERN = /^whsec_[A-Za-z0-9+/]{22,}={0,2}$/;

const webhookEndpointConfigSchema = z.strictObject({
  id: z.string().regex(JOB_ID_PATTERN, JOB_ID_RULE),
  url: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }),
  secret: z.string().regex(WEBHOOK_SECRET_PATTERN, 'whsec_ followed by base64 of at least 16 bytes'),
  description: z.string().max(500).optional(),
  /** Empty: every type. */
  event_types: z.array(eventTypeSchema).default([]),
  /** Empty: every job. */
  jobs: z.array(z.string().regex(JOB_ID_PATTERN, JOB_ID_RULE)).default([]),
  /** Empty: every pipeline. */
  pipelines: z.array(z.string().regex(JOB_ID_PATTERN, JOB_ID_RULE)).default([]),
});

/** `webhooks.secret_key`: base64 of exactly 32 bytes (an AES-256 key). */
const webhookSecretKeySchema = z
  .string()
  .regex(/^[A-Za-z0-9+/]{43}=$/, 'base64 of 32 random bytes (e.g. `openssl rand -base64 32`)');

/** An entry of `webhooks.allow_targets`: `10.1.0.0/16`, `fd00::/8`, `192.168.1.20` or a host name. */
const allowTargetSchema = z.string().superRefine((entry, ctx) => {
  const parsed = parseAllowTarget(entry);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
});

/** The `webhooks` section of the configuration. */
export const webhooksConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** One delivery attempt: connect, send, and the answer's headers. */
    timeout: durationSchema.default(10_000),
    retry: z
      .strictObject({
        first_delay: durationSchema.default(5_000),
        max_delay: durationSchema.default(6 * 3_600_000),
        give_up_after: durationSchema.default(24 * 3_600_000),
        jitter: z.number().min(0).max(1).default(0.2),
      })
      .prefault({}),
    /** An endpoint that has failed every attempt for this long is disabled. */
    disable_after: durationSchema.default(24 * 3_600_000),
    /** Delivered and failed deliveries are kept this long (attempts included), then pruned. */
    keep_deliveries: durationSchema.default(7 * 86_400_000),
    /**
     * What webhooks may reach although it is loopback, private, link-local, CGNAT, ULA, ...: CIDR ranges,
     * addresses or host names (trusted whatever they resolve to). Never the operator's own port.
     */
    allow_targets: z.array(allowTargetSchema).default([]),
    endpoints: z.array(webhookEndpointConfigSchema).default([]),
    /**
     * Seals the secrets of endpoints registered through the API before they enter the event log
     * (AES-256-GCM): base64 of 32 random bytes, or env `OPERATOR_WEBHOOK_KEY`. Unset: on LMDB one is
     * generated into `<data_dir>/webhooks.key`; on EventStoreDB API registration is refused without it.
     */
    secret_key: webhookSecretKeySchema.optional(),
  })
  .prefault({});

/** Config endpoints whose URL names an address webhooks may not reach (names are judged when sending). */
export function refusedWebhookTargets(c: {
  server: { port: number };
  webhooks: { allow_targets: string[]; endpoints: { url: string }[] };
}): [number, string][] {
  let policy: OutboundPolicy;
  try {
    policy = new OutboundPolicy(c.webhooks.allow_targets);
  } catch {
    return []; // allow_targets itself is reported
  }
  const ownPort = c.server.port === 0 ? null : c.server.port;
  return c.webhooks.endpoints.flatMap((e, i): [number, string][] => {
    const refused = URL.canParse(e.url) ? policy.urlRefusal(new URL(e.url), ownPort) : undefined;
    return refused ? [[i, targetRefusalMessage(e.url, refused)]] : [];
  });
}
