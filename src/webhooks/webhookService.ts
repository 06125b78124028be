import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../infra/config/configSchema.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { OutboundPolicy } from '../infra/net/outboundPolicy.ts';
import { dropStoredResponseBodies, pruneDeliveries } from './deliveryHistory.ts';
import { retrySchedule, withJitter } from './retrySchedule.ts';
import { SenderLeaseKeeper } from './senderLeaseKeeper.ts';
import type { sendWebhook } from './sendWebhook.ts';
import type { StartupContext } from './startupEndpoints.ts';
import { disableRefusedEndpoints, moveLegacyEndpoints, syncConfigEndpoints } from './startupEndpoints.ts';
import type { Resolve, TargetGuard } from './targetGuard.ts';
import { WebhookDispatcher } from './webhookDispatcher.ts';
import { WebhookEndpoints } from './webhookEndpoints.ts';
import { WebhookFollower } from './webhookFollower.ts';
import { WebhookKeyring } from './webhookKeyring.ts';
import { WebhookLog } from './webhookLog.ts';
import { webhookMetrics } from './webhookMetrics.ts';
import { WebhookProjection } from './webhookProjection.ts';
import { WebhookStore } from './webhookStore.ts';

/** The sender lease lasts this long without renewal (renewed every third of it). */
const LEASE_TTL_MS = 15_000;
/**
 * How long an attempt in flight may take to finish when sending stops here (shutdown, stepping down, the
 * sender lease lost): its answer is then recorded, so a clean restart does not send it twice.
 */
const STOP_GRACE_MS = 1000;

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
  /** What the API does with webhooks: register, list, enable, redeliver. */
  readonly endpoints: WebhookEndpoints;
  readonly #options: WebhookServiceOptions;
  readonly #now: () => number;
  /** Where webhooks may connect: `webhooks.allow_targets` and the own port. */
  readonly guard: TargetGuard;
  #ownPort: number | null = null;
  #pruneTimer: NodeJS.Timeout | null = null;
  readonly #senderLease: SenderLeaseKeeper;
  #leading = false;

  constructor(options: WebhookServiceOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    const { config, logger } = options;
    const settings = config.webhooks;
    this.store = WebhookStore.open(config.storage.data_dir);
    this.log = new WebhookLog(options.store);
    this.keyring = new WebhookKeyring(config, logger?.child({ component: 'webhooks' }), () =>
      this.store.listEndpoints().flatMap((e) => (e.sealed_secret ? [e.sealed_secret.kid] : [])),
    );
    const configSecrets = new Map(settings.endpoints.map((e) => [e.id, e.secret]));
    this.guard = {
      policy: new OutboundPolicy(settings.allow_targets),
      ownPort: () => this.#ownPort,
      ...(options.resolve ? { resolve: options.resolve } : {}),
    };
    const log = logger?.child({ component: 'webhooks' });
    const metrics = webhookMetrics(this.store, options.registry);
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
      onAttempt: (_e, _d, result) => metrics.attempt(result.error === null),
      onDisabled: () => metrics.disabled(),
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
    this.endpoints = new WebhookEndpoints({
      store: this.store,
      log: this.log,
      keyring: this.keyring,
      guard: this.guard,
      follower: this.follower,
      dispatcher: this.dispatcher,
      logger: options.logger,
      now: this.#now,
    });
    this.#senderLease = new SenderLeaseKeeper({
      leases: this.store.leases,
      ttlMs: LEASE_TTL_MS,
      logger,
      onGained: () => {
        this.follower.start();
        if (this.#leading && this.enabled) this.dispatcher.start();
      },
      onLost: async () => {
        await this.dispatcher.stop(STOP_GRACE_MS);
        await this.follower.stop();
      },
    });
  }

  get enabled(): boolean {
    return this.#options.config.webhooks.enabled;
  }

  /** True while this process holds the sender lease of its data dir (it follows the log into its outbox). */
  get sending(): boolean {
    return this.#senderLease.holding;
  }

  /**
   * Syncs the config endpoints, then follows the log into the outbox while this process holds the sender
   * lease of its data dir (checked and renewed every few seconds; a second process on the same data dir
   * waits for it). Sending starts with `lead()`.
   */
  async start(ownPort: number): Promise<void> {
    this.#ownPort = ownPort;
    if (this.enabled) {
      const dropped = await dropStoredResponseBodies(this.store);
      if (dropped > 0)
        this.#options.logger?.info({ deliveries: dropped }, 'webhooks: dropped stored answer snippets');
      await syncConfigEndpoints(this.#startupContext());
    }
    if (this.#options.config.store.kind === 'eventstoredb' && !this.#options.config.webhooks.secret_key)
      this.#options.logger?.warn(
        'webhooks: no webhooks.secret_key (or OPERATOR_WEBHOOK_KEY): endpoints cannot be registered through the API, and those registered elsewhere are not sent from here',
      );
    await this.#senderLease.start();
    if (!this.enabled) return;
    await moveLegacyEndpoints(this.#startupContext());
    await disableRefusedEndpoints(this.#startupContext());
    const prune = () => {
      const before = new Date(this.#now() - this.#options.config.webhooks.keep_deliveries).toISOString();
      pruneDeliveries(this.store, before).catch((error: unknown) => {
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
    if (this.sending && this.enabled) this.dispatcher.start();
  }

  /**
   * Another process leads now: an attempt in flight has `STOP_GRACE_MS` to finish and be recorded; one still
   * out after that is cut, acknowledged by no one, and sent again by the new leader.
   */
  async stepDown(): Promise<void> {
    this.#leading = false;
    await this.dispatcher.stop(STOP_GRACE_MS);
  }

  async close(): Promise<void> {
    if (this.#pruneTimer) clearInterval(this.#pruneTimer);
    await this.#senderLease.stop();
    await this.dispatcher.stop(STOP_GRACE_MS);
    await this.follower.stop();
    this.#senderLease.release();
    await this.store.close();
  }

  #startupContext(): StartupContext {
    return {
      config: this.#options.config,
      store: this.#options.store,
      webhookStore: this.store,
      log: this.log,
      keyring: this.keyring,
      guard: this.guard,
      ownPort: this.#ownPort,
      logger: this.#options.logger,
      iso: () => new Date(this.#now()).toISOString(),
      register: (event) => this.endpoints.register(event),
    };
  }
}
