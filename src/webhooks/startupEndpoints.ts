import type { Logger } from 'pino';
import { OperatorError } from '../domain/errors.ts';
import type { Config } from '../infra/config/configSchema.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { isWrongExpectedRevisionError } from '../infra/eventstore/eventStore.ts';
import { redactedUrl } from '../infra/net/redactedUrl.ts';
import type { SealedSecret } from './secretBox.ts';
import type { TargetGuard } from './targetGuard.ts';
import { TargetDeniedError } from './targetGuard.ts';
import type { WebhookKeyring } from './webhookKeyring.ts';
import type { RegistryEvent, WebhookLog } from './webhookLog.ts';
import type { WebhookEndpoint } from './webhookRecords.ts';
import { HEALTHY_ENDPOINT } from './webhookRecords.ts';
import type { WebhookStore } from './webhookStore.ts';

/** What the start-up passes over the endpoints need of the webhook service. */
export interface StartupContext {
  config: Config;
  store: EventStore;
  webhookStore: WebhookStore;
  log: WebhookLog;
  keyring: WebhookKeyring;
  guard: TargetGuard;
  /** The port this process listens on (known once the server listens). */
  ownPort: number | null;
  logger?: Logger;
  /** Now, as an ISO timestamp. */
  iso(): string;
  /** Appends a registry event and waits (bounded) until this process has applied it. */
  register(event: RegistryEvent): Promise<unknown>;
}

/**
 * `webhooks.endpoints` from the configuration: added (delivering from now on), updated in place (their
 * delivery state kept), and removed from the store when gone from the file.
 */
export async function syncConfigEndpoints(ctx: StartupContext): Promise<void> {
  const configured = ctx.config.webhooks.endpoints;
  const head = await ctx.store.headPosition();
  const now = ctx.iso();
  for (const c of configured) {
    const url = new URL(c.url);
    // The config check refused every other literal target; the own port is known only now (port 0).
    const refused = ctx.guard.policy.urlRefusal(url, ctx.ownPort);
    const forbidden = refused ? new TargetDeniedError(url, refused).message : null;
    if (forbidden !== null)
      ctx.logger?.error({ endpoint: c.id, url: redactedUrl(url) }, `webhooks: ${forbidden}`);
    const existing = ctx.webhookStore.endpoint(c.id);
    const fields = {
      url: url.href,
      description: c.description ?? null,
      event_types: [...new Set(c.event_types)],
      jobs: [...new Set(c.jobs)],
      pipelines: [...new Set(c.pipelines)],
      source: 'config' as const,
    };
    // Where its deliveries start is agreed in the store, once, by the first process that has it.
    const start = existing?.created_position ?? (await configStart(ctx, c.id, head));
    const { secret: _clear, ...base }: WebhookEndpoint = existing ?? {
      id: c.id,
      ...fields,
      created_at: now,
      created_position: start,
      ...HEALTHY_ENDPOINT,
    };
    const endpoint: WebhookEndpoint = { ...base, ...fields };
    if (forbidden !== null)
      Object.assign(endpoint, { enabled: false, disabled_at: now, disabled_reason: forbidden });
    await ctx.webhookStore.putEndpoint(endpoint);
  }
  const ids = new Set(configured.map((c) => c.id));
  for (const e of ctx.webhookStore.listEndpoints())
    if (e.source === 'config' && !ids.has(e.id)) await ctx.webhookStore.deleteEndpoint(e.id);
}

/**
 * The position after which a config endpoint gets events: the first process to start with it records
 * the head then in the endpoint's checkpoint stream (`no_stream`: one of several racing wins); everyone
 * else reads it, so a takeover never starts later than the first leader did.
 */
async function configStart(ctx: StartupContext, id: string, head: string | null): Promise<string | null> {
  const started = {
    type: 'webhook_checkpoint_started' as const,
    endpoint_id: id,
    checkpoint: head,
    at: ctx.iso(),
  };
  await ctx.log.checkpoint(id, started, 'no_stream').catch((error: unknown) => {
    if (!isWrongExpectedRevisionError(error)) throw error;
  });
  for await (const first of ctx.store.readStream(ctx.log.checkpointStream(id), { maxCount: 1 })) {
    const data = first.data as { checkpoint?: string | null };
    return data.checkpoint ?? null;
  }
  return head;
}

/**
 * Endpoints registered before the address checks existed (or before `allow_targets` shrank) whose literal
 * target is now refused: disabled with the reason, so they stop trying and say why.
 */
export async function disableRefusedEndpoints(ctx: StartupContext): Promise<void> {
  for (const e of ctx.webhookStore.listEndpoints()) {
    if (!e.enabled || e.source !== 'api') continue;
    const refused = ctx.guard.policy.urlRefusal(new URL(e.url), ctx.ownPort);
    if (!refused) continue;
    const reason = new TargetDeniedError(e.url, refused).message;
    await ctx.register({ type: 'webhook_endpoint_disabled', endpoint_id: e.id, at: ctx.iso(), reason });
    ctx.logger?.error({ endpoint: e.id, url: redactedUrl(e.url) }, `webhooks: disabled: ${reason}`);
  }
}

/**
 * Endpoints registered through the API by a version that kept them in this data dir only (their secret in
 * clear): moved into the registry once, with their id and start, so that every process sends them.
 */
export async function moveLegacyEndpoints(ctx: StartupContext): Promise<void> {
  for (const e of ctx.webhookStore.listEndpoints()) {
    if (e.source !== 'api' || e.sealed_secret || e.secret === undefined) continue;
    let sealed: SealedSecret;
    try {
      sealed = ctx.keyring.seal(e.id, e.secret);
    } catch (error) {
      // No key to seal with: the keyring says which one is wanted (set one, or restore the key file).
      if (!(error instanceof OperatorError) || error.code !== 'webhook_key_missing') throw error;
      ctx.logger?.error(
        { endpoint: e.id },
        `webhooks: an endpoint of an earlier version stays in this data dir only until it can be sealed: ${error.message}`,
      );
      continue;
    }
    await ctx.register({
      type: 'webhook_endpoint_registered',
      endpoint_id: e.id,
      url: e.url,
      description: e.description,
      event_types: e.event_types,
      jobs: e.jobs,
      pipelines: e.pipelines,
      sealed_secret: sealed,
      at: e.created_at,
      created_position: e.created_position,
    });
    ctx.logger?.info({ endpoint: e.id }, 'webhooks: endpoint moved into the event store');
  }
}
