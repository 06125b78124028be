import type { EventType } from '../domain/events.ts';
import type { SealedSecret } from './secretBox.ts';
import type { AttemptResult } from './sendWebhook.ts';

/** The rows of the webhook store (`WebhookStore`): endpoints and their deliveries. */
export interface WebhookEndpoint {
  id: string;
  url: string;
  description: string | null;
  /** Empty: every type. */
  event_types: EventType[];
  /** Empty: every job. */
  jobs: string[];
  /** Empty: every pipeline. */
  pipelines: string[];
  /** `config` endpoints come from `webhooks.endpoints` and are changed there, not through the API. */
  source: 'api' | 'config';
  /**
   * API endpoints: the secret as the registry event carries it, sealed with `webhooks.secret_key`. Config
   * endpoints keep theirs in the configuration; neither is ever stored here in clear.
   */
  sealed_secret?: SealedSecret;
  /** A clear secret: rows written by earlier versions (moved into the registry at start) and tests only. */
  secret?: string;
  created_at: string;
  /** The store head when the endpoint was registered: only later events are delivered. */
  created_position: string | null;
  enabled: boolean;
  disabled_at: string | null;
  disabled_reason: string | null;
  /** Since when every attempt has failed; null after a success. */
  failing_since: string | null;
  consecutive_failures: number;
  last_success_at: string | null;
  last_failure_at: string | null;
}

/** The health fields of an endpoint that has never been tried: enabled, no failure on record. */
export const HEALTHY_ENDPOINT = {
  enabled: true,
  disabled_at: null,
  disabled_reason: null,
  failing_since: null,
  consecutive_failures: 0,
  last_success_at: null,
  last_failure_at: null,
} as const satisfies Partial<WebhookEndpoint>;

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface DeliveryAttempt extends AttemptResult {
  at: string;
}

export interface WebhookDelivery {
  /** The event's position: unique per endpoint, and the delivery order. */
  id: string;
  endpoint_id: string;
  /** Sent as `webhook-id`: the same on every attempt and redelivery. */
  event_id: string;
  position: string;
  job_id: string;
  type: EventType;
  status: DeliveryStatus;
  created_at: string;
  /** When the dispatcher may try next (pending only). */
  next_attempt_at: string | null;
  attempt_count: number;
  /** Attempts since the delivery was queued or last redelivered: indexes the retry schedule. */
  cycle_attempts: number;
  /** The latest attempts, oldest first (at most `MAX_ATTEMPTS_KEPT`). */
  attempts: DeliveryAttempt[];
  delivered_at: string | null;
  failed_at: string | null;
  /** The canonical event JSON: the request body. */
  body: string;
  /** Sent again on request although the endpoint's checkpoint is past it (it does not move the checkpoint). */
  redelivery?: boolean;
}

/** The attempts a delivery keeps; older ones are dropped. */
export const MAX_ATTEMPTS_KEPT = 20;
