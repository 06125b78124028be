import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import { OperatorError } from '../domain/errors.ts';
import type { EventType } from '../domain/events.ts';
import type { Config } from '../infra/config/configSchema.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { OutboundPolicy } from '../infra/net/outboundPolicy.ts';
import { redactedUrl } from '../infra/net/redactedUrl.ts';
import { ProjectionRunner } from '../projections/index.ts';
import { redelivered, reenabled } from './deliveryOutcome.ts';
import { retrySchedule, withJitter } from './retrySchedule.ts';
import type { sendWebhook } from './sendWebhook.ts';
import type { Resolve, TargetGuard } from './targetGuard.ts';
import { assertTargetAllowed, TargetDeniedError } from './targetGuard.ts';
import { WebhookDispatcher } from './webhookDispatcher.ts';
import { WebhookProjection } from './webhookProjection.ts';
import { generateWebhookSecret } from './webhookSignature.ts';
import type { DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookEndpoint } from './webhookStore.ts';
import { HEALTHY_ENDPOINT, WebhookStore } from './webhookStore.ts';

/** An endpoint as the API shows it: everything but the secret. */
export type WebhookEndpointView = Omit<WebhookEndpoint, 'secret'>;
/** A delivery as the API shows it: everything but the body (the event, findable by its id). */
export type WebhookDeliveryView = Omit<WebhookDelivery, 'body' | 'cycle_attempts'>;

export interface NewWebhookEndpoint {
  url: string;
  description?: string;
  event_types?: EventType[];
  jobs?: string[];
  pipelines?: string[];
  secret?: string;
}

export class WebhookError extends OperatorError {}

/** The sender lease lasts this long without renewal (renewed every third of it). */
const LEASE_TTL_MS = 15_000;

const notFound = (what: string) => new WebhookError('not_found', `${what} not found`, 404);

export interface WebhookServiceOptions {
  config: Config;
  store: EventStore;
  logger?: Logger;
  /** Registers the webhook metrics here (the API's registry). */
  registry?: Registry;
  /** Overrides the retry delays (ms) computed from `webhooks.retry`. */
  schedule?: readonly number[];
  random?: () => number;
  now?: () => number;
  send?: typeof sendWebhook;
  /** Resolves target host names (default: the system resolver); tests play DNS through it. */
  resolve?: Resolve;
}

const view = ({ secret: _secret, ...endpoint }: WebhookEndpoint): WebhookEndpointView => endpoint;
/** An attempt as shown: only these fields, whatever an older version stored with it. */
const attemptView = (a: DeliveryAttempt): DeliveryAttempt => ({
  at: a.at,
  status_code: a.status_code,
  latency_ms: a.latency_ms,
  error_class: a.error_class ?? null,
  error: a.error,
});

export const deliveryView = ({
  body: _body,
  cycle_attempts: _cycle,
  ...d
}: WebhookDelivery): WebhookDeliveryView => ({ ...d, attempts: d.attempts.map(attemptView) });

/**
 * Webhooks as one unit: the endpoint registry, the outbox projection (its own runner and checkpoint) and
 * the dispatcher. `start(port)` once the HTTP server listens (the port is what URLs may not target);
 * `close()` on shutdown.
 */
export class WebhookService {
  readonly store: WebhookStore;
  readonly runner: ProjectionRunner;
  readonly dispatcher: WebhookDispatcher;
  readonly #options: WebhookServiceOptions;
  readonly #now: () => number;
  /** Where webhooks may connect: `webhooks.allow_targets` and the own port. */
  readonly guard: TargetGuard;
  #ownPort: number | null = null;
  #pruneTimer: NodeJS.Timeout | null = null;
  #leaseTimer: NodeJS.Timeout | null = null;
  #sending = false;
  #leaseTick: Promise<void> = Promise.resolve();
  #waitLogged = false;
  readonly #owner = `serve-${process.pid}-${randomBytes(6).toString('hex')}`;

  constructor(options: WebhookServiceOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    const { config, logger } = options;
    const settings = config.webhooks;
    this.store = WebhookStore.open(config.storage.data_dir);
    this.guard = {
      policy: new OutboundPolicy(settings.allow_targets),
      ownPort: () => this.#ownPort,
      ...(options.resolve ? { resolve: options.resolve } : {}),
    };
    const log = logger?.child({ component: 'webhooks' });
    const attempts = options.registry
      ? new Counter({
          name: 'operator_webhook_attempts_total',
          help: 'webhook delivery attempts by result',
          labelNames: ['result'],
          registers: [options.registry],
        })
      : null;
    const disabled = options.registry
      ? new Counter({
          name: 'operator_webhook_endpoints_disabled_total',
          help: 'webhook endpoints disabled after failing for too long',
          registers: [options.registry],
        })
      : null;
    if (options.registry) {
      const store = this.store;
      new Gauge({
        name: 'operator_webhook_pending_deliveries',
        help: 'webhook deliveries waiting to be sent',
        registers: [options.registry],
        collect() {
          this.set(store.pendingCount());
        },
      });
    }
    const random = options.random ?? Math.random;
    this.dispatcher = new WebhookDispatcher({
      store: this.store,
      policy: {
        schedule:
          options.schedule ??
          retrySchedule({
            firstDelayMs: settings.retry.first_delay,
            maxDelayMs: settings.retry.max_delay,
            giveUpAfterMs: settings.retry.give_up_after,
          }),
        jittered: (delay) => withJitter(delay, settings.retry.jitter, random),
        disableAfterMs: settings.disable_after,
      },
      timeoutMs: settings.timeout,
      guard: this.guard,
      logger: log,
      now: this.#now,
      send: options.send,
      onAttempt: (_e, _d, result) =>
        attempts?.inc({ result: result.error === null ? 'delivered' : 'failed' }),
      onDisabled: () => disabled?.inc(),
    });
    const projection = new WebhookProjection({
      store: this.store,
      clock: () => new Date(this.#now()),
      onEnqueued: (ids) => {
        for (const id of ids) this.dispatcher.wake(id);
      },
    });
    this.runner = new ProjectionRunner({ store: options.store, projections: [projection], logger: log });
  }

  get enabled(): boolean {
    return this.#options.config.webhooks.enabled;
  }

  /** True while this process holds the sender lease and runs the outbox and the dispatcher. */
  get sending(): boolean {
    return this.#sending;
  }

  /**
   * Syncs the config endpoints, then follows the log and sends, while this process holds the sender lease
   * (checked and renewed every few seconds; a second process on the same data dir waits for it).
   */
  async start(ownPort: number): Promise<void> {
    this.#ownPort = ownPort;
    if (!this.enabled) return;
    const dropped = await this.store.dropStoredResponseBodies();
    if (dropped > 0)
      this.#options.logger?.info({ deliveries: dropped }, 'webhooks: dropped stored answer snippets');
    await this.#syncConfigEndpoints();
    await this.#disableRefusedEndpoints();
    await this.#checkLease();
    this.#leaseTimer = setInterval(() => {
      this.#leaseTick = this.#leaseTick
        .then(() => this.#checkLease())
        .catch((error: unknown) =>
          this.#options.logger?.error({ err: error }, 'webhooks: sender lease check failed'),
        );
    }, LEASE_TTL_MS / 3);
    this.#leaseTimer.unref();
    const prune = () => {
      const before = new Date(this.#now() - this.#options.config.webhooks.keep_deliveries).toISOString();
      this.store.prune(before).catch((error: unknown) => {
        this.#options.logger?.error({ err: error }, 'webhooks: pruning old deliveries failed');
      });
    };
    prune();
    this.#pruneTimer = setInterval(prune, 3_600_000);
    this.#pruneTimer.unref();
  }

  async close(): Promise<void> {
    if (this.#pruneTimer) clearInterval(this.#pruneTimer);
    if (this.#leaseTimer) clearInterval(this.#leaseTimer);
    await this.#leaseTick;
    await this.dispatcher.stop();
    await this.runner.close();
    if (this.#sending) this.store.releaseSenderLease(this.#owner);
    this.#sending = false;
    await this.store.close();
  }

  async #checkLease(): Promise<void> {
    let held = false;
    try {
      held = this.store.acquireSenderLease(this.#owner, LEASE_TTL_MS, Date.now());
    } catch (error) {
      this.#options.logger?.error({ err: error }, 'webhooks: sender lease check failed');
    }
    if (held && !this.#sending) {
      this.#sending = true;
      await this.runner.start();
      this.dispatcher.start();
    } else if (!held && this.#sending) {
      this.#sending = false;
      this.#options.logger?.warn('webhooks: sender lease lost: another process sends now');
      await this.dispatcher.stop();
      await this.runner.stop();
    } else if (!held && !this.#waitLogged) {
      this.#waitLogged = true;
      const holder = this.store.senderLease();
      this.#options.logger?.info(
        { pid: holder?.pid, host: holder?.host, until: holder && new Date(holder.expires_at).toISOString() },
        'webhooks: another process holds the sender lease; waiting for it',
      );
    }
  }

  list(): WebhookEndpointView[] {
    return this.store.listEndpoints().map(view);
  }

  get(id: string): WebhookEndpointView {
    return view(this.#endpoint(id));
  }

  /** Registers an endpoint; the answer holds the secret, which is never shown again. */
  async create(input: NewWebhookEndpoint): Promise<{ endpoint: WebhookEndpointView; secret: string }> {
    const url = new URL(input.url);
    assertTargetAllowed(url, this.guard);
    const secret = input.secret ?? generateWebhookSecret();
    const endpoint: WebhookEndpoint = {
      id: `wh_${randomBytes(10).toString('hex')}`,
      url: url.href,
      description: input.description ?? null,
      event_types: [...new Set(input.event_types ?? [])],
      jobs: [...new Set(input.jobs ?? [])],
      pipelines: [...new Set(input.pipelines ?? [])],
      source: 'api',
      secret,
      created_at: new Date(this.#now()).toISOString(),
      created_position: await this.#options.store.headPosition(),
      ...HEALTHY_ENDPOINT,
    };
    await this.store.putEndpoint(endpoint);
    this.#options.logger?.info(
      { endpoint: endpoint.id, url: redactedUrl(endpoint.url) },
      'webhooks: endpoint registered',
    );
    return { endpoint: view(endpoint), secret };
  }

  async delete(id: string): Promise<void> {
    if (this.#endpoint(id).source === 'config')
      throw new WebhookError(
        'webhook_from_config',
        `webhook ${id} is defined in webhooks.endpoints of the configuration: remove it there`,
        409,
      );
    await this.store.deleteEndpoint(id);
    this.dispatcher.wake(id);
    this.#options.logger?.info({ endpoint: id }, 'webhooks: endpoint deleted');
  }

  /** Re-enables a disabled endpoint: its pending deliveries resume in order, starting now. */
  async enable(id: string): Promise<WebhookEndpointView> {
    assertTargetAllowed(new URL(this.#endpoint(id).url), this.guard);
    const endpoint = await this.store.updateEndpoint(id, reenabled);
    const head = this.store.headPending(id);
    if (head)
      await this.store.updateDelivery(id, head.position, (d, e) => ({
        delivery: redelivered(d, this.#now()),
        endpoint: e,
      }));
    this.dispatcher.wake(id);
    return view(endpoint as WebhookEndpoint);
  }

  deliveries(
    id: string,
    query: { status?: DeliveryStatus; limit: number; cursor?: string },
  ): { deliveries: WebhookDeliveryView[]; next_cursor: string | null } {
    this.#endpoint(id);
    const page = this.store.listDeliveries(id, query);
    return { deliveries: page.deliveries.map(deliveryView), next_cursor: page.next_cursor };
  }

  delivery(id: string, deliveryId: string): WebhookDeliveryView {
    this.#endpoint(id);
    const delivery = this.store.delivery(id, deliveryId);
    if (!delivery) throw notFound(`delivery ${deliveryId} of webhook ${id}`);
    return deliveryView(delivery);
  }

  /** Sends a delivery again (same `webhook-id`), now, with a fresh retry schedule; its place is its position. */
  async redeliver(id: string, deliveryId: string): Promise<WebhookDeliveryView> {
    const endpoint = this.#endpoint(id);
    if (!endpoint.enabled)
      throw new WebhookError(
        'webhook_disabled',
        `webhook ${id} is disabled (${endpoint.disabled_reason ?? 'no reason'}): POST /webhooks/${id}/enable first`,
        409,
      );
    const result = await this.store.updateDelivery(id, deliveryId, (d, e) => ({
      delivery: redelivered(d, this.#now()),
      endpoint: e,
    }));
    if (!result) throw notFound(`delivery ${deliveryId} of webhook ${id}`);
    this.dispatcher.wake(id);
    return deliveryView(result.delivery);
  }

  #endpoint(id: string): WebhookEndpoint {
    const endpoint = this.store.endpoint(id);
    if (!endpoint) throw notFound(`webhook ${id}`);
    return endpoint;
  }

  /**
   * Endpoints registered before the address checks existed (or before `allow_targets` shrank) whose literal
   * target is now refused: disabled with the reason, so they stop trying and say why.
   */
  async #disableRefusedEndpoints(): Promise<void> {
    for (const e of this.store.listEndpoints()) {
      if (!e.enabled || e.source !== 'api') continue;
      const refused = this.guard.policy.urlRefusal(new URL(e.url), this.#ownPort);
      if (!refused) continue;
      const reason = new TargetDeniedError(e.url, refused).message;
      const at = new Date(this.#now()).toISOString();
      await this.store.updateEndpoint(e.id, (current) => ({
        ...current,
        enabled: false,
        disabled_at: at,
        disabled_reason: reason,
      }));
      this.#options.logger?.error(
        { endpoint: e.id, url: redactedUrl(e.url) },
        `webhooks: disabled: ${reason}`,
      );
    }
  }

  /**
   * `webhooks.endpoints` from the configuration: added (delivering from now on), updated in place (their
   * delivery state kept), and removed from the store when gone from the file.
   */
  async #syncConfigEndpoints(): Promise<void> {
    const configured = this.#options.config.webhooks.endpoints;
    const head = await this.#options.store.headPosition();
    const now = new Date(this.#now()).toISOString();
    for (const c of configured) {
      const url = new URL(c.url);
      // The config check refused every other literal target; the own port is known only now (port 0).
      const refused = this.guard.policy.urlRefusal(url, this.#ownPort);
      const forbidden = refused ? new TargetDeniedError(url, refused).message : null;
      if (forbidden !== null)
        this.#options.logger?.error({ endpoint: c.id, url: redactedUrl(url) }, `webhooks: ${forbidden}`);
      const existing = this.store.endpoint(c.id);
      const fields = {
        url: url.href,
        description: c.description ?? null,
        event_types: [...new Set(c.event_types)],
        jobs: [...new Set(c.jobs)],
        pipelines: [...new Set(c.pipelines)],
        secret: c.secret,
        source: 'config' as const,
      };
      const base: WebhookEndpoint = existing ?? {
        id: c.id,
        ...fields,
        created_at: now,
        created_position: head,
        ...HEALTHY_ENDPOINT,
      };
      const endpoint: WebhookEndpoint = { ...base, ...fields };
      if (forbidden !== null)
        Object.assign(endpoint, { enabled: false, disabled_at: now, disabled_reason: forbidden });
      await this.store.putEndpoint(endpoint);
    }
    const ids = new Set(configured.map((c) => c.id));
    for (const e of this.store.listEndpoints())
      if (e.source === 'config' && !ids.has(e.id)) await this.store.deleteEndpoint(e.id);
  }
}
