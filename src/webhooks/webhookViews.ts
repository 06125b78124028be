import type { DeliveryAttempt, WebhookDelivery, WebhookEndpoint } from './webhookRecords.ts';

/** An endpoint as the API shows it: everything but the secret, clear or sealed. */
export type WebhookEndpointView = Omit<WebhookEndpoint, 'secret' | 'sealed_secret'>;
/** A delivery as the API shows it: everything but the body (the event, findable by its id). */
export type WebhookDeliveryView = Omit<WebhookDelivery, 'body' | 'cycle_attempts' | 'redelivery'>;

export const endpointView = ({
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
