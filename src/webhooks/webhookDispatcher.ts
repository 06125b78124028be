import type { Logger } from 'pino';
import { redactedUrl } from '../infra/net/redactedUrl.ts';
import type { OutcomePolicy } from './deliveryOutcome.ts';
import { afterAttempt } from './deliveryOutcome.ts';
import type { AttemptResult } from './sendWebhook.ts';
import { sendWebhook } from './sendWebhook.ts';
import type { TargetGuard } from './targetGuard.ts';
import { signWebhook } from './webhookSignature.ts';
import type { WebhookDelivery, WebhookEndpoint, WebhookStore } from './webhookStore.ts';

export interface WebhookDispatcherOptions {
  store: WebhookStore;
  policy: OutcomePolicy;
  timeoutMs: number;
  /** Where requests may connect (allowlist, own port, resolver). */
  guard: TargetGuard;
  logger?: Logger;
  now?: () => number;
  /** The transport; a test may replace it. */
  send?: typeof sendWebhook;
  onAttempt?: (endpoint: WebhookEndpoint, delivery: WebhookDelivery, result: AttemptResult) => void;
  onDisabled?: (endpoint: WebhookEndpoint) => void;
}

const USER_AGENT = 'operator-events-webhooks/1';

/**
 * Sends the outbox: one worker per endpoint, each sending its pending deliveries strictly in position
 * order (the next waits until the previous is delivered or has failed for good), so a slow or broken
 * endpoint holds up only itself. Everything a worker knows is in the store, so a restart resumes where it
 * stopped, on the same retry schedule.
 */
export class WebhookDispatcher {
  readonly #options: WebhookDispatcherOptions;
  readonly #now: () => number;
  readonly #workers = new Map<string, EndpointWorker>();
  #running = false;

  constructor(options: WebhookDispatcherOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const endpoint of this.#options.store.listEndpoints()) this.wake(endpoint.id);
  }

  /** Something changed for this endpoint (new deliveries, a redelivery, enabled, deleted). */
  wake(endpointId: string): void {
    if (!this.#running) return;
    let worker = this.#workers.get(endpointId);
    if (!worker || worker.finished) {
      worker = new EndpointWorker(endpointId, this.#options, this.#now);
      this.#workers.set(endpointId, worker);
      const started = worker;
      void started.run().finally(() => {
        if (this.#workers.get(endpointId) === started) this.#workers.delete(endpointId);
      });
      return;
    }
    worker.poke();
  }

  /** Stops every worker; an attempt in flight is abandoned (not recorded: it is sent again after a restart). */
  async stop(): Promise<void> {
    this.#running = false;
    const workers = [...this.#workers.values()];
    for (const w of workers) w.stop();
    await Promise.all(workers.map((w) => w.done));
    this.#workers.clear();
  }
}

class EndpointWorker {
  #poked = false;
  #stopping = false;
  /** Set (synchronously) when the loop decides to end: a later wake starts a new worker. */
  finished = false;
  #wakeUp: (() => void) | null = null;
  #abort = new AbortController();
  #done: Promise<void> = Promise.resolve();

  constructor(
    readonly endpointId: string,
    readonly options: WebhookDispatcherOptions,
    readonly now: () => number,
  ) {}

  get done(): Promise<void> {
    return this.#done;
  }

  run(): Promise<void> {
    this.#done = this.#loop().catch((error: unknown) => {
      this.finished = true;
      this.options.logger?.error(
        { err: error, endpoint: this.endpointId },
        'webhooks: worker stopped on an error',
      );
    });
    return this.#done;
  }

  poke(): void {
    this.#poked = true;
    this.#wakeUp?.();
  }

  stop(): void {
    this.#stopping = true;
    this.#abort.abort();
    this.#wakeUp?.();
  }

  async #loop(): Promise<void> {
    const { store } = this.options;
    while (!this.#stopping) {
      this.#poked = false;
      const endpoint = store.endpoint(this.endpointId);
      const head = endpoint?.enabled ? store.headPending(this.endpointId) : undefined;
      if (!endpoint || !head) {
        // Nothing to send (deleted, disabled or idle): the worker ends; new work or `enable` starts another.
        this.finished = true;
        return;
      }
      const wait = Date.parse(head.next_attempt_at ?? '') - this.now();
      if (wait > 0) {
        await this.#sleep(wait);
        continue;
      }
      await this.#attempt(endpoint, head);
    }
  }

  async #attempt(endpoint: WebhookEndpoint, delivery: WebhookDelivery): Promise<void> {
    const { store, policy, logger } = this.options;
    const timestamp = Math.floor(this.now() / 1000);
    const headers = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': delivery.event_id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signWebhook(endpoint.secret, delivery.event_id, timestamp, delivery.body),
    };
    const send = this.options.send ?? sendWebhook;
    const result = await send(new URL(endpoint.url), headers, delivery.body, {
      ...this.options.guard,
      timeoutMs: this.options.timeoutMs,
      signal: this.#abort.signal,
    });
    if (this.#stopping) return;
    const outcome = await store.updateDelivery(this.endpointId, delivery.position, (d, e) => {
      // A redelivery or a re-enable may have changed the row while the request was out: record the
      // attempt either way, but only let it move a delivery that is still the one that was sent.
      if (d.status !== 'pending') return { delivery: d, endpoint: e };
      return afterAttempt(d, e, result, this.now(), policy);
    });
    this.options.onAttempt?.(endpoint, delivery, result);
    if (!outcome) return;
    const { delivery: after, endpoint: now } = outcome;
    if (result.error !== null)
      logger?.warn(
        {
          endpoint: endpoint.id,
          url: redactedUrl(endpoint.url),
          delivery: delivery.id,
          event_id: delivery.event_id,
          status_code: result.status_code,
          error_class: result.error_class,
          error: result.error,
          attempt: after.attempt_count,
          next_attempt_at: after.next_attempt_at,
        },
        after.status === 'failed'
          ? 'webhooks: delivery failed for good'
          : 'webhooks: delivery attempt failed',
      );
    if (endpoint.enabled && !now.enabled) {
      logger?.error(
        { endpoint: now.id, url: redactedUrl(now.url), reason: now.disabled_reason },
        'webhooks: endpoint disabled after failing for too long; POST /api/v1/webhooks/{id}/enable resumes it',
      );
      this.options.onDisabled?.(now);
    }
  }

  #sleep(ms: number): Promise<void> {
    if (this.#poked || this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      // setTimeout takes at most 2^31-1 ms; a longer wait just wakes up and re-reads.
      const timer = setTimeout(done, Math.min(ms, 2_147_483_647));
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wakeUp = () => {
        this.#wakeUp = null;
        done();
      };
    });
  }
}
