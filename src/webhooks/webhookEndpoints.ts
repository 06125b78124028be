import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { OperatorError } from '../domain/errors.ts';
import type { EventType } from '../domain/events.ts';
import { redactedUrl } from '../infra/net/redactedUrl.ts';
import { listDeliveries } from './deliveryHistory.ts';
import type { TargetGuard } from './targetGuard.ts';
import { assertTargetAllowed } from './targetGuard.ts';
import type { WebhookDispatcher } from './webhookDispatcher.ts';
import type { WebhookFollower } from './webhookFollower.ts';
import type { WebhookKeyring } from './webhookKeyring.ts';
import type { RegistryEvent, WebhookLog } from './webhookLog.ts';
import { registeredFields } from './webhookLog.ts';
import type { DeliveryStatus, WebhookEndpoint } from './webhookRecords.ts';
import { HEALTHY_ENDPOINT } from './webhookRecords.ts';
import { generateWebhookSecret } from './webhookSignature.ts';
import type { WebhookStore } from './webhookStore.ts';
import type { WebhookDeliveryView, WebhookEndpointView } from './webhookViews.ts';
import { deliveryView, endpointView as view } from './webhookViews.ts';

export interface NewWebhookEndpoint {
  url: string;
  description?: string;
  event_types?: EventType[];
  jobs?: string[];
  pipelines?: string[];
  secret?: string;
}

export class WebhookError extends OperatorError {}

/** How long an API change waits for this process's projection to show it (read-your-writes). */
const REGISTRY_WAIT_MS = 5_000;

const notFound = (what: string) => new WebhookError('not_found', `${what} not found`, 'not_found');

export interface WebhookEndpointsOptions {
  store: WebhookStore;
  log: WebhookLog;
  keyring: WebhookKeyring;
  guard: TargetGuard;
  follower: WebhookFollower;
  dispatcher: WebhookDispatcher;
  logger?: Logger;
  now: () => number;
}

/**
 * What the API does with webhooks: changes are events of the registry stream (`WebhookLog`), each waited
 * for until this process's follower has applied it (read-your-writes); reads come from the local outbox.
 */
export class WebhookEndpoints {
  readonly #o: WebhookEndpointsOptions;

  constructor(options: WebhookEndpointsOptions) {
    this.#o = options;
  }

  list(): WebhookEndpointView[] {
    return this.#o.store.listEndpoints().map(view);
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
    assertTargetAllowed(url, this.#o.guard);
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
      sealed_secret: this.#o.keyring.seal(id, secret),
      at: new Date(this.#o.now()).toISOString(),
      created_position: null,
    };
    const { position } = await this.register(event);
    this.#o.logger?.info({ endpoint: id, url: redactedUrl(url) }, 'webhooks: endpoint registered');
    const endpoint = this.#o.store.endpoint(id) ?? {
      ...registeredFields(event, position),
      ...HEALTHY_ENDPOINT,
    };
    return { endpoint: view(endpoint), secret };
  }

  async delete(id: string): Promise<void> {
    if (this.#endpoint(id).source === 'config')
      throw new WebhookError(
        'webhook_from_config',
        `webhook ${id} is defined in webhooks.endpoints of the configuration: remove it there`,
        'conflict',
      );
    await this.register({ type: 'webhook_endpoint_deleted', endpoint_id: id, at: this.#iso() });
    await this.#o.log
      .deleteCheckpoint(id)
      .catch((error: unknown) =>
        this.#o.logger?.warn({ err: error, endpoint: id }, 'webhooks: checkpoint stream not deleted'),
      );
    this.#o.dispatcher.wake(id);
    this.#o.logger?.info({ endpoint: id }, 'webhooks: endpoint deleted');
  }

  /** Re-enables a disabled endpoint: its pending deliveries resume in order, starting now. */
  async enable(id: string): Promise<WebhookEndpointView> {
    assertTargetAllowed(new URL(this.#endpoint(id).url), this.#o.guard);
    await this.register({ type: 'webhook_endpoint_enabled', endpoint_id: id, at: this.#iso() });
    this.#o.dispatcher.wake(id);
    return view(this.#endpoint(id));
  }

  /**
   * Pauses an endpoint by hand (a receiver down for maintenance): nothing more is sent to it until `enable`,
   * its pending deliveries keep their order and resume then; an attempt already out is recorded as it
   * answers. Disabling a disabled endpoint changes nothing.
   */
  async disable(id: string, by: string): Promise<WebhookEndpointView> {
    if (this.#endpoint(id).enabled) {
      await this.register({
        type: 'webhook_endpoint_disabled',
        endpoint_id: id,
        at: this.#iso(),
        reason: `disabled by ${by}`,
      });
      this.#o.logger?.info({ endpoint: id, by }, 'webhooks: endpoint disabled by hand');
    }
    return view(this.#endpoint(id));
  }

  /** Appends a registry event and waits (bounded) until this process has applied it. */
  async register(event: RegistryEvent): Promise<{ revision: number; position: string }> {
    const written = await this.#o.log.register(event);
    if (!(await this.#o.follower.waitForRegistry(written.revision, REGISTRY_WAIT_MS)))
      this.#o.logger?.warn(
        { revision: written.revision, type: event.type },
        'webhooks: the registry change is not applied here yet (is this process following the log?)',
      );
    return written;
  }

  #iso(): string {
    return new Date(this.#o.now()).toISOString();
  }

  deliveries(
    id: string,
    query: { status?: DeliveryStatus; limit: number; cursor?: string },
  ): { deliveries: WebhookDeliveryView[]; next_cursor: string | null } {
    this.#endpoint(id);
    const page = listDeliveries(this.#o.store, id, query);
    return { deliveries: page.deliveries.map(deliveryView), next_cursor: page.next_cursor };
  }

  delivery(id: string, deliveryId: string): WebhookDeliveryView {
    this.#endpoint(id);
    const delivery = this.#o.store.delivery(id, deliveryId);
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
    if (!this.#o.store.delivery(id, deliveryId)) throw notFound(`delivery ${deliveryId} of webhook ${id}`);
    await this.register({
      type: 'webhook_redelivery_requested',
      endpoint_id: id,
      position: deliveryId,
      at: this.#iso(),
    });
    this.#o.dispatcher.wake(id);
    const delivery = this.#o.store.delivery(id, deliveryId);
    if (!delivery) throw notFound(`delivery ${deliveryId} of webhook ${id}`);
    return deliveryView(delivery);
  }

  #endpoint(id: string): WebhookEndpoint {
    const endpoint = this.#o.store.endpoint(id);
    if (!endpoint) throw notFound(`webhook ${id}`);
    return endpoint;
  }
}
