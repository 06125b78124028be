import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import { OperatorError } from '../domain/errors.ts';
import type { EventType } from '../domain/events.ts';
import type { Config } from '../infra/config/configSchema.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { isWrongExpectedRevisionError } from '../infra/eventstore/eventStore.ts';
import { OutboundPolicy } from '../infra/net/outboundPolicy.ts';
import { redactedUrl } from '../infra/net/redactedUrl.ts';
import { retrySchedule, withJitter } from './retrySchedule.ts';
import type { sendWebhook } from './sendWebhook.ts';
import type { Resolve, TargetGuard } from './targetGuard.ts';
import { assertTargetAllowed, TargetDeniedError } from './targetGuard.ts';
import { WebhookDispatcher } from './webhookDispatcher.ts';
import { WebhookFollower } from './webhookFollower.ts';
import { WebhookKeyring } from './webhookKeyring.ts';
import type { RegistryEvent } from './webhookLog.ts';
import { registeredFields, WebhookLog } from './webhookLog.ts';
import { WebhookProjection } from './webhookProjection.ts';
import { generateWebhookSecret } from './webhookSignature.ts';
import type { DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookEndpoint } from './webhookStore.ts';
import { HEALTHY_ENDPOINT, WebhookStore } from './webhookStore.ts';

/** An endpoint as the API shows it: everything but the secret, clear or sealed. */
export type WebhookEndpointView = Omit<WebhookEndpoint, 'secret' | 'sealed_secret'>;
/** A delivery as the API shows it: everything but the body (the event, findable by its id). */
export type WebhookDeliveryView = Omit<WebhookDelivery, 'body' | 'cycle_attempts' | 'redelivery'>;

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
/** How long an API change waits for this process's projection to show it (read-your-writes). */
const REGISTRY_WAIT_MS = 5_000;

const notFound = (what: string) => new WebhookError('not_found', `${what} not found`, 'not_found');

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

const view = ({
  secret: _secret,
  sealed_secret: _sealed,
  ...endpoint
}: WebhookEndpoint): WebhookEndpointView => endpoint;
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
  redelivery: _redelivery,
  ...d
}: WebhookDelivery): WebhookDeliveryView => ({ ...d, attempts: d.attempts.map(attemptView) });

/**
 * Webhooks as one unit. The registry of API endpoints and each endpoint's delivery checkpoint are streams
 * of the event store (`WebhookLog`); every process follows them with the job events into its own outbox
 * (`WebhookFollower` + `WebhookProjection`), so every process lists the same endpoints and deliveries; only
 * the process that leads (`lead()`: on EventStoreDB the store lease holder, on LMDB the one server) sends.
 * `start(port)` once the HTTP server listens (the port is what URLs may not target); `close()` on shutdown.
 */
export class WebhookService {
  readonly store: WebhookStore;
  readonly log: WebhookLog;
  readonly keyring: WebhookKeyring;
  readonly follower: WebhookFollower;
  readonly dispatcher: WebhookDispatcher;
  readonly #options: WebhookServiceOptions;
  readonly #now: () => number;
  /** Where webhooks may connect: `webhooks.allow_targets` and the own port. */
  readonly guard: TargetGuard;
  #ownPort: number | null = null;
  #pruneTimer: NodeJS.Timeout | null = null;
  #leaseTimer: NodeJS.Timeout | null = null;
  #sending = false;
  #leading = false;
  #leaseTick: Promise<void> = Promise.resolve();
  #waitLogged = false;
  readonly #owner = `serve-${process.pid}-${randomBytes(6).toString('hex')}`;

  constructor(options: WebhookServiceOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    const { config, logger } = options;
    const settings = config.webhooks;
    this.store = WebhookStore.open(config.storage.data_dir);
    this.log = new WebhookLog(options.store);
    this.keyring = new WebhookKeyring(config, logger?.child({ component: 'webhooks' }));
    const configSecrets = new Map(settings.endpoints.map((e) => [e.id, e.secret]));
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
      log: this.log,
      secretOf: (e) => {
        if (e.source === 'config') return configSecrets.get(e.id) ?? (e.secret as string);
        return e.sealed_secret ? this.keyring.open(e.id, e.sealed_secret) : (e.secret as string);
      },
    });
    const projection = new WebhookProjection({
      store: this.store,
      clock: () => new Date(this.#now()),
      onEnqueued: (ids) => {
        for (const id of ids) this.dispatcher.wake(id);
      },
    });
    this.follower = new WebhookFollower({
      store: options.store,
      log: this.log,
      webhookStore: this.store,
      projection,
      outbox: settings.enabled,
      logger: log,
    });
  }

  get enabled(): boolean {
    return this.#options.config.webhooks.enabled;
  }

  /** True while this process holds the sender lease of its data dir (it follows the log into its outbox). */
  get sending(): boolean {
    return this.#sending;
  }

  /**
   * Syncs the config endpoints, then follows the log into the outbox while this process holds the sender
   * lease of its data dir (checked and renewed every few seconds; a second process on the same data dir
   * waits for it). Sending starts with `lead()`.
   */
  async start(ownPort: number): Promise<void> {
    this.#ownPort = ownPort;
    if (this.enabled) {
      const dropped = await this.store.dropStoredResponseBodies();
      if (dropped > 0)
        this.#options.logger?.info({ deliveries: dropped }, 'webhooks: dropped stored answer snippets');
      await this.#syncConfigEndpoints();
    }
    if (this.#options.config.store.kind === 'eventstoredb' && !this.#options.config.webhooks.secret_key)
      this.#options.logger?.warn(
        'webhooks: no webhooks.secret_key (or OPERATOR_WEBHOOK_KEY): endpoints cannot be registered through the API, and those registered elsewhere are not sent from here',
      );
    await this.#checkLease();
    this.#leaseTimer = setInterval(() => {
      this.#leaseTick = this.#leaseTick
        .then(() => this.#checkLease())
        .catch((error: unknown) =>
          this.#options.logger?.error({ err: error }, 'webhooks: sender lease check failed'),
        );
    }, LEASE_TTL_MS / 3);
    this.#leaseTimer.unref();
    if (!this.enabled) return;
    await this.#moveLegacyEndpoints();
    await this.#disableRefusedEndpoints();
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

  /** This process leads (LMDB: always; EventStoreDB: while it holds the store lease): it sends. */
  lead(): void {
    this.#leading = true;
    if (this.#sending && this.enabled) this.dispatcher.start();
  }

  /** Another process leads now: the attempts in flight are abandoned (acknowledged by no one: sent again). */
  async stepDown(): Promise<void> {
    this.#leading = false;
    await this.dispatcher.stop();
  }

  async close(): Promise<void> {
    if (this.#pruneTimer) clearInterval(this.#pruneTimer);
    if (this.#leaseTimer) clearInterval(this.#leaseTimer);
    await this.#leaseTick;
    await this.dispatcher.stop();
    await this.follower.stop();
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
      this.follower.start();
      if (this.#leading && this.enabled) this.dispatcher.start();
    } else if (!held && this.#sending) {
      this.#sending = false;
      this.#options.logger?.warn('webhooks: sender lease lost: another process sends now');
      await this.dispatcher.stop();
      await this.follower.stop();
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

  /**
   * Registers an endpoint: an event of the registry stream, its secret sealed with `webhooks.secret_key`.
   * It gets every job event after that event. The answer holds the secret, which is never shown again.
   */
  async create(input: NewWebhookEndpoint): Promise<{ endpoint: WebhookEndpointView; secret: string }> {
    const url = new URL(input.url);
    assertTargetAllowed(url, this.guard);
    const secret = input.secret ?? generateWebhookSecret();
    const id = `wh_${randomBytes(10).toString('hex')}`;
    const event: Extract<RegistryEvent, { type: 'webhook_endpoint_registered' }> = {
      type: 'webhook_endpoint_registered',
      endpoint_id: id,
      url: url.href,
      description: input.description ?? null,
      event_types: [...new Set(input.event_types ?? [])],
      jobs: [...new Set(input.jobs ?? [])],
      pipelines: [...new Set(input.pipelines ?? [])],
      sealed_secret: this.keyring.seal(id, secret),
      at: new Date(this.#now()).toISOString(),
      created_position: null,
    };
    const { position } = await this.#register(event);
    this.#options.logger?.info({ endpoint: id, url: redactedUrl(url) }, 'webhooks: endpoint registered');
    const endpoint = this.store.endpoint(id) ?? { ...registeredFields(event, position), ...HEALTHY_ENDPOINT };
    return { endpoint: view(endpoint), secret };
  }

  async delete(id: string): Promise<void> {
    if (this.#endpoint(id).source === 'config')
      throw new WebhookError(
        'webhook_from_config',
        `webhook ${id} is defined in webhooks.endpoints of the configuration: remove it there`,
        'conflict',
      );
    await this.#register({ type: 'webhook_endpoint_deleted', endpoint_id: id, at: this.#iso() });
    await this.log
      .deleteCheckpoint(id)
      .catch((error: unknown) =>
        this.#options.logger?.warn({ err: error, endpoint: id }, 'webhooks: checkpoint stream not deleted'),
      );
    this.dispatcher.wake(id);
    this.#options.logger?.info({ endpoint: id }, 'webhooks: endpoint deleted');
  }

  /** Re-enables a disabled endpoint: its pending deliveries resume in order, starting now. */
  async enable(id: string): Promise<WebhookEndpointView> {
    assertTargetAllowed(new URL(this.#endpoint(id).url), this.guard);
    await this.#register({ type: 'webhook_endpoint_enabled', endpoint_id: id, at: this.#iso() });
    this.dispatcher.wake(id);
    return view(this.#endpoint(id));
  }

  /** Appends a registry event and waits (bounded) until this process has applied it. */
  async #register(event: RegistryEvent): Promise<{ revision: number; position: string }> {
    const written = await this.log.register(event);
    if (!(await this.follower.waitForRegistry(written.revision, REGISTRY_WAIT_MS)))
      this.#options.logger?.warn(
        { revision: written.revision, type: event.type },
        'webhooks: the registry change is not applied here yet (is this process following the log?)',
      );
    return written;
  }

  #iso(): string {
    return new Date(this.#now()).toISOString();
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
        'conflict',
      );
    if (!this.store.delivery(id, deliveryId)) throw notFound(`delivery ${deliveryId} of webhook ${id}`);
    await this.#register({
      type: 'webhook_redelivery_requested',
      endpoint_id: id,
      position: deliveryId,
      at: this.#iso(),
    });
    this.dispatcher.wake(id);
    const delivery = this.store.delivery(id, deliveryId);
    if (!delivery) throw notFound(`delivery ${deliveryId} of webhook ${id}`);
    return deliveryView(delivery);
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
      await this.#register({ type: 'webhook_endpoint_disabled', endpoint_id: e.id, at: this.#iso(), reason });
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
        source: 'config' as const,
      };
      // Where its deliveries start is agreed in the store, once, by the first process that has it.
      const start = existing?.created_position ?? (await this.#configStart(c.id, head));
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
      await this.store.putEndpoint(endpoint);
    }
    const ids = new Set(configured.map((c) => c.id));
    for (const e of this.store.listEndpoints())
      if (e.source === 'config' && !ids.has(e.id)) await this.store.deleteEndpoint(e.id);
  }

  /**
   * The position after which a config endpoint gets events: the first process to start with it records
   * the head then in the endpoint's checkpoint stream (`no_stream`: one of several racing wins); everyone
   * else reads it, so a takeover never starts later than the first leader did.
   */
  async #configStart(id: string, head: string | null): Promise<string | null> {
    const started = {
      type: 'webhook_checkpoint_started' as const,
      endpoint_id: id,
      checkpoint: head,
      at: this.#iso(),
    };
    await this.log.checkpoint(id, started, 'no_stream').catch((error: unknown) => {
      if (!isWrongExpectedRevisionError(error)) throw error;
    });
    for await (const first of this.#options.store.readStream(this.log.checkpointStream(id), {
      maxCount: 1,
    })) {
      const data = first.data as { checkpoint?: string | null };
      return data.checkpoint ?? null;
    }
    return head;
  }

  /**
   * Endpoints registered through the API by a version that kept them in this data dir only (their secret in
   * clear): moved into the registry once, with their id and start, so that every process sends them.
   */
  async #moveLegacyEndpoints(): Promise<void> {
    for (const e of this.store.listEndpoints()) {
      if (e.source !== 'api' || e.sealed_secret || e.secret === undefined) continue;
      if (!this.keyring.key()) {
        this.#options.logger?.error(
          { endpoint: e.id },
          'webhooks: an endpoint of an earlier version stays in this data dir only: set webhooks.secret_key to move it into the store',
        );
        continue;
      }
      await this.#register({
        type: 'webhook_endpoint_registered',
        endpoint_id: e.id,
        url: e.url,
        description: e.description,
        event_types: e.event_types,
        jobs: e.jobs,
        pipelines: e.pipelines,
        sealed_secret: this.keyring.seal(e.id, e.secret),
        at: e.created_at,
        created_position: e.created_position,
      });
      this.#options.logger?.info({ endpoint: e.id }, 'webhooks: endpoint moved into the event store');
    }
  }
}
