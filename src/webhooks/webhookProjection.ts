import { OperatorError } from '../domain/errors.ts';
import type { JobEvent } from '../domain/events.ts';
import type { Projection } from '../projections/index.ts';
import { canonicalJson, isAtOrBelow } from '../projections/index.ts';
import type { WebhookDelivery, WebhookEndpoint, WebhookStore } from './webhookStore.ts';

export interface WebhookProjectionOptions {
  store: WebhookStore;
  /** Called after a batch committed, with the endpoints that got deliveries. */
  onEnqueued?: (endpointIds: ReadonlySet<string>) => void;
  clock?: () => Date;
}

/** Another writer moved the outbox checkpoint between this projection's read and its commit. */
export class OutboxConflictError extends OperatorError {
  constructor(expected: string | null) {
    super('webhook_outbox_conflict', `webhook outbox checkpoint is no longer ${String(expected)}`, 409);
  }
}

/**
 * Whether an endpoint wants an event (its pipeline, when known, from the job's `job_created`). Enabled or
 * not: a disabled endpoint's deliveries wait in the outbox for it to be enabled again.
 */
export function endpointWants(
  endpoint: WebhookEndpoint,
  event: JobEvent,
  pipeline: string | undefined,
): boolean {
  return (
    !isAtOrBelow(event.position, endpoint.created_position) &&
    (endpoint.event_types.length === 0 || endpoint.event_types.includes(event.type)) &&
    (endpoint.jobs.length === 0 || endpoint.jobs.includes(event.job_id)) &&
    (endpoint.pipelines.length === 0 || (pipeline !== undefined && endpoint.pipelines.includes(pipeline)))
  );
}

function pipelineOf(event: JobEvent): string | undefined {
  if (event.type !== 'job_created') return undefined;
  const pipeline = event.payload['pipeline'];
  if (typeof pipeline !== 'object' || pipeline === null) return undefined;
  const name = (pipeline as { name?: unknown }).name;
  return typeof name === 'string' ? name : undefined;
}

/**
 * The webhook outbox: for each event an endpoint wants, a pending delivery row, written in the same LMDB
 * transaction as this projection's checkpoint, so every event is queued exactly once per endpoint even
 * across crashes; the dispatcher sends the rows (at least once). It has its own checkpoint and its own
 * runner, so a read model rebuild does not re-send anything.
 */
export class WebhookProjection implements Projection {
  readonly name = 'webhooks';
  readonly #store: WebhookStore;
  readonly #onEnqueued: (endpointIds: ReadonlySet<string>) => void;
  readonly #clock: () => Date;

  constructor(options: WebhookProjectionOptions) {
    this.#store = options.store;
    this.#onEnqueued = options.onEnqueued ?? (() => {});
    this.#clock = options.clock ?? (() => new Date());
  }

  async checkpoint(): Promise<string | null> {
    return this.#store.checkpoint();
  }

  async apply(batch: readonly JobEvent[]): Promise<void> {
    const checkpoint = this.#store.checkpoint();
    const fresh = batch.filter((e) => !isAtOrBelow(e.position, checkpoint));
    const last = fresh.at(-1);
    if (!last) return;
    // Disabled endpoints keep queueing: once enabled again they get everything, in order.
    const endpoints = this.#store.listEndpoints();
    const learnt = new Map<string, string>();
    const deliveries: WebhookDelivery[] = [];
    const now = this.#clock().toISOString();
    for (const event of fresh) {
      const created = pipelineOf(event);
      if (created !== undefined) learnt.set(event.job_id, created);
      if (endpoints.length === 0) continue;
      const pipeline = learnt.get(event.job_id) ?? this.#store.jobPipeline(event.job_id);
      for (const endpoint of endpoints) {
        if (!endpointWants(endpoint, event, pipeline)) continue;
        deliveries.push({
          id: event.position,
          endpoint_id: endpoint.id,
          event_id: event.id,
          position: event.position,
          job_id: event.job_id,
          type: event.type,
          status: 'pending',
          created_at: now,
          next_attempt_at: now,
          attempt_count: 0,
          cycle_attempts: 0,
          attempts: [],
          delivered_at: null,
          failed_at: null,
          body: canonicalJson(event),
        });
      }
    }
    const touched = await this.#store.enqueue(checkpoint, last.position, deliveries, learnt);
    if (touched === null) throw new OutboxConflictError(checkpoint);
    if (touched.size > 0) this.#onEnqueued(touched);
  }

  async close(): Promise<void> {}
}
