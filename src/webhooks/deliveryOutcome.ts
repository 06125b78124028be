import type { AttemptResult } from './sendWebhook.ts';
import type { WebhookDelivery, WebhookEndpoint } from './webhookRecords.ts';
import { MAX_ATTEMPTS_KEPT } from './webhookRecords.ts';

export interface OutcomePolicy {
  /** Delays between attempts (ms); once they are used up, the delivery has failed. */
  schedule: readonly number[];
  /** Applies jitter to one delay. */
  jittered: (delayMs: number) => number;
  /** An endpoint failing without a break for this long is disabled (a 410 Gone disables it at once). */
  disableAfterMs: number;
}

export interface Outcome {
  delivery: WebhookDelivery;
  endpoint: WebhookEndpoint;
  /** This attempt made the endpoint disabled. */
  disabled: boolean;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The rows after one attempt (pure, never throws: it runs inside a write transaction). A 2xx delivers and
 * clears the endpoint's failure streak; a failure schedules the next attempt from the retry schedule, or
 * marks the delivery failed once the schedule is used up, and disables an endpoint that has been failing
 * for `disableAfterMs`, or at once when the target answers 410 Gone (it says the hook is gone for good; the
 * delivery keeps its schedule, as with any endpoint disabled, and goes on in order if it is enabled again).
 */
export function afterAttempt(
  delivery: WebhookDelivery,
  endpoint: WebhookEndpoint,
  result: AttemptResult,
  now: number,
  policy: OutcomePolicy,
): Outcome {
  const at = iso(now);
  const attempts = [...delivery.attempts, { at, ...result }].slice(-MAX_ATTEMPTS_KEPT);
  const counted = {
    ...delivery,
    attempts,
    attempt_count: delivery.attempt_count + 1,
    cycle_attempts: delivery.cycle_attempts + 1,
  };
  if (result.error === null)
    return {
      delivery: { ...counted, status: 'delivered', delivered_at: at, next_attempt_at: null },
      endpoint: { ...endpoint, failing_since: null, consecutive_failures: 0, last_success_at: at },
      disabled: false,
    };
  const delay = policy.schedule[delivery.cycle_attempts];
  const failedDelivery: WebhookDelivery =
    delay === undefined
      ? { ...counted, status: 'failed', failed_at: at, next_attempt_at: null }
      : { ...counted, next_attempt_at: iso(now + policy.jittered(delay)) };
  const failingSince = endpoint.failing_since ?? at;
  const gone = result.status_code === 410;
  const disable =
    endpoint.enabled &&
    (gone || (now - Date.parse(failingSince) >= policy.disableAfterMs && policy.disableAfterMs >= 0));
  return {
    delivery: failedDelivery,
    endpoint: {
      ...endpoint,
      failing_since: failingSince,
      consecutive_failures: endpoint.consecutive_failures + 1,
      last_failure_at: at,
      ...(disable
        ? {
            enabled: false,
            disabled_at: at,
            disabled_reason: gone
              ? 'the target answered 410 Gone: it takes no more deliveries'
              : `every attempt failed since ${failingSince} (${endpoint.consecutive_failures + 1} in a row); last: ${result.error}`,
          }
        : {}),
    },
    disabled: disable,
  };
}

/** A redelivery: pending again, due now, with a fresh retry schedule (history kept). */
export function redelivered(delivery: WebhookDelivery, now: number): WebhookDelivery {
  return {
    ...delivery,
    status: 'pending',
    next_attempt_at: iso(now),
    cycle_attempts: 0,
    delivered_at: null,
    failed_at: null,
  };
}

/** Re-enabled: the failure streak is forgotten; the endpoint's pending deliveries go on in order. */
export function reenabled(endpoint: WebhookEndpoint): WebhookEndpoint {
  return {
    ...endpoint,
    enabled: true,
    disabled_at: null,
    disabled_reason: null,
    failing_since: null,
    consecutive_failures: 0,
  };
}
