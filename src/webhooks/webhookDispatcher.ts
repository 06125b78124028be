import type { Logger } from 'pino';
import type { OutcomePolicy } from './deliveryOutcome.ts';
import { EndpointWorker } from './endpointWorker.ts';
import type { AttemptResult, sendWebhook } from './sendWebhook.ts';
import type { TargetGuard } from './targetGuard.ts';
import type { WebhookLog } from './webhookLog.ts';
import type { WebhookDelivery, WebhookEndpoint } from './webhookRecords.ts';
import type { WebhookStore } from './webhookStore.ts';

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
  /**
   * The webhook streams of the event store: with it, each endpoint's checkpoint lives there (read when a
   * worker starts, moved by every delivered or given-up delivery with the expected revision), and a
   * disable is a registry event. Without it (tests of the sending alone) the outbox is all there is.
   */
  log?: WebhookLog;
  /** The signing secret of an endpoint (opened from its sealed form, or from the configuration). */
  secretOf?: (endpoint: WebhookEndpoint) => string;
}

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

  /**
   * Stops every worker. An attempt in flight has `graceMs` to finish and be recorded; one still out after that
   * is cut, recorded nowhere, and sent again by the next sender (at least once).
   */
  async stop(graceMs = 0): Promise<void> {
    this.#running = false;
    const workers = [...this.#workers.values()];
    for (const w of workers) w.stop(graceMs);
    await Promise.all(workers.map((w) => w.done));
    this.#workers.clear();
  }
}
