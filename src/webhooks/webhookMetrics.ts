import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import type { WebhookStore } from './webhookStore.ts';

export interface WebhookMetrics {
  /** One attempt sent, by result. */
  attempt(delivered: boolean): void;
  /** An endpoint disabled after failing for too long, or at a 410 Gone. */
  disabled(): void;
}

/** The webhook metrics, registered in `registry` (the API's); without one, nothing is counted. */
export function webhookMetrics(store: WebhookStore, registry: Registry | undefined): WebhookMetrics {
  if (!registry) return { attempt: () => {}, disabled: () => {} };
  const attempts = new Counter({
    name: 'operator_webhook_attempts_total',
    help: 'webhook delivery attempts by result',
    labelNames: ['result'],
    registers: [registry],
  });
  const disabled = new Counter({
    name: 'operator_webhook_endpoints_disabled_total',
    help: 'webhook endpoints disabled after failing for too long or a 410 Gone',
    registers: [registry],
  });
  new Gauge({
    name: 'operator_webhook_pending_deliveries',
    help: 'webhook deliveries waiting to be sent',
    registers: [registry],
    collect() {
      this.set(store.pendingCount());
    },
  });
  return {
    attempt: (delivered) => attempts.inc({ result: delivered ? 'delivered' : 'failed' }),
    disabled: () => disabled.inc(),
  };
}
