import { OperatorError } from '../domain/errors.ts';
import type { JobEvent } from '../domain/events.ts';
import { payloadOf } from '../domain/payloadOf.ts';
import type { Projection } from '../projections/index.ts';
import { canonicalJson, isAtOrBelow } from '../projections/index.ts';
import { redelivered, reenabled } from './deliveryOutcome.ts';
import type { CheckpointEvent, RegistryEvent } from './webhookLog.ts';
import { registeredFields } from './webhookLog.ts';
import type { WebhookDelivery, WebhookEndpoint } from './webhookRecords.ts';
import { HEALTHY_ENDPOINT } from './webhookRecords.ts';
import type { WebhookStore } from './webhookStore.ts';

export interface WebhookProjectionOptions {
  store: WebhookStore;
  /** Called after a batch committed, with the endpoints whose work changed (new deliveries, enabled, ...). */
  onEnqueued?: (endpointIds: ReadonlySet<string>) => void;
  clock?: () => Date;
}

/** One item of the webhook follower's feed: a job event, or an event of the webhook streams. */
export type WebhookFeedItem =
  | { kind: 'job'; event: JobEvent }
  | { kind: 'registry'; position: string; revision: number; event: RegistryEvent }
  | { kind: 'checkpoint'; position: string; event: CheckpointEvent };

const positionOf = (item: WebhookFeedItem): string =>
  item.kind === 'job' ? item.event.position : item.position;

/** Another writer moved the outbox checkpoint between this projection's read and its commit. */
export class OutboxConflictError extends OperatorError {
  constructor(expected: string | null) {
    super(
      'webhook_outbox_conflict',
      `webhook outbox checkpoint is no longer ${String(expected)}`,
      'conflict',
    );
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
  const name: unknown = payloadOf(event, 'job_created').pipeline?.name;
  return typeof name === 'string' ? name : undefined;
}

/**
 * The webhooks' view of the log, folded in `$all` order: registry events (endpoints registered, disabled,
 * enabled, deleted, redeliveries asked for), job events (a pending delivery row for each endpoint that
 * wants one) and checkpoint events (deliveries acknowledged by whichever process sent them). Every process
 * runs it, so every process lists the same endpoints and delivery states; only the leader sends. One LMDB
 * transaction per batch carries its rows and its checkpoint, so every event is queued exactly once per
 * endpoint even across crashes. Because registrations and job events come in one order, an endpoint gets
 * exactly the job events after its registration event, on every process.
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

  /** Job events only (the feed of earlier versions, and of tests). */
  async apply(batch: readonly JobEvent[]): Promise<void> {
    await this.applyFeed(batch.map((event) => ({ kind: 'job', event })));
  }

  /**
   * A batch of the feed, in position order. With `outbox: false` (webhooks not enabled here) the items are
   * registry events only and the outbox checkpoint stays where it is, so enabling webhooks later queues
   * from there.
   */
  async applyFeed(batch: readonly WebhookFeedItem[], outbox = true): Promise<void> {
    const checkpoint = this.#store.checkpoint();
    const fresh = outbox ? batch.filter((i) => !isAtOrBelow(positionOf(i), checkpoint)) : batch;
    const last = fresh.at(-1);
    if (!last) return;
    const store = this.#store;
    // What the batch decides on: the endpoints as they are before it, changed as its registry events go.
    const endpoints = new Map(store.listEndpoints().map((e) => [e.id, e]));
    const seenRevision = store.registryRevision();
    const learnt = new Map<string, string>();
    const writes: (() => void)[] = [];
    const touched = new Set<string>();
    const now = this.#clock().toISOString();
    for (const item of fresh) {
      if (item.kind === 'registry') {
        if (item.revision <= seenRevision) continue;
        this.#registry(item, endpoints, writes, touched, now);
      } else if (item.kind === 'checkpoint') this.#acknowledged(item.event, writes, touched);
      else this.#job(item.event, endpoints, learnt, writes, touched, now);
    }
    const committed = await store.commit(
      outbox ? { expected: checkpoint, next: positionOf(last) } : null,
      () => {
        for (const write of writes) write();
      },
    );
    if (!committed) throw new OutboxConflictError(checkpoint);
    if (touched.size > 0) this.#onEnqueued(touched);
  }

  async close(): Promise<void> {}

  #job(
    event: JobEvent,
    endpoints: ReadonlyMap<string, WebhookEndpoint>,
    learnt: Map<string, string>,
    writes: (() => void)[],
    touched: Set<string>,
    now: string,
  ): void {
    const store = this.#store;
    const created = pipelineOf(event);
    if (created !== undefined) {
      learnt.set(event.job_id, created);
      writes.push(() => store.setJobPipelineSync(event.job_id, created));
    }
    if (endpoints.size === 0) return;
    const pipeline = learnt.get(event.job_id) ?? store.jobPipeline(event.job_id);
    // Disabled endpoints keep queueing: once enabled again they get everything, in order.
    for (const endpoint of endpoints.values()) {
      if (!endpointWants(endpoint, event, pipeline)) continue;
      const delivery = newDelivery(endpoint.id, event, now);
      writes.push(() => {
        // Only for endpoints that still exist when the batch commits (the API may delete one meanwhile).
        if (store.endpoint(endpoint.id) && store.queueDeliverySync(delivery)) touched.add(endpoint.id);
      });
    }
  }

  #registry(
    item: Extract<WebhookFeedItem, { kind: 'registry' }>,
    endpoints: Map<string, WebhookEndpoint>,
    writes: (() => void)[],
    touched: Set<string>,
    now: string,
  ): void {
    const store = this.#store;
    const { event } = item;
    const id = event.endpoint_id;
    const claimed = () => store.claimRegistryRevisionSync(item.revision);
    switch (event.type) {
      case 'webhook_endpoint_registered': {
        const fields = registeredFields(event, item.position);
        const merge = (current: WebhookEndpoint | undefined): WebhookEndpoint => {
          // A row moved in from an earlier version keeps its health; its clear secret goes.
          const { secret: _clear, ...kept }: Partial<WebhookEndpoint> = current ?? { ...HEALTHY_ENDPOINT };
          return { ...fields, ...HEALTHY_ENDPOINT, ...kept, ...fields };
        };
        endpoints.set(id, merge(endpoints.get(id)));
        writes.push(() => {
          if (claimed()) store.changeEndpointSync(id, merge);
        });
        return;
      }
      case 'webhook_endpoint_deleted':
        endpoints.delete(id);
        writes.push(() => {
          if (claimed()) store.removeEndpointSync(id);
          touched.add(id);
        });
        return;
      case 'webhook_endpoint_disabled': {
        const disable = (e: WebhookEndpoint): WebhookEndpoint => ({
          ...e,
          enabled: false,
          disabled_at: event.at,
          disabled_reason: event.reason,
        });
        const known = endpoints.get(id);
        if (known) endpoints.set(id, disable(known));
        writes.push(() => {
          if (claimed()) store.changeEndpointSync(id, (e) => e && disable(e));
        });
        return;
      }
      case 'webhook_endpoint_enabled': {
        const known = endpoints.get(id);
        if (known) endpoints.set(id, reenabled(known));
        writes.push(() => {
          if (!claimed() || !store.changeEndpointSync(id, (e) => e && reenabled(e))) return;
          // Its pending deliveries resume in order, starting now.
          const head = store.headPending(id);
          if (head) store.changeDeliverySync(id, head.position, (d) => redelivered(d, Date.parse(now)));
          touched.add(id);
        });
        return;
      }
      case 'webhook_redelivery_requested':
        writes.push(() => {
          if (!claimed()) return;
          const at = Date.parse(event.at);
          const changed = store.changeDeliverySync(id, event.position, (d) => ({
            ...redelivered(d, Number.isNaN(at) ? Date.parse(now) : at),
            redelivery: true,
          }));
          if (changed) touched.add(id);
        });
        return;
    }
  }

  /** An acknowledgement from whichever process sent the delivery: the row takes its outcome. */
  #acknowledged(event: CheckpointEvent, writes: (() => void)[], touched: Set<string>): void {
    if (event.type !== 'webhook_delivery_acknowledged') return;
    const store = this.#store;
    writes.push(() => {
      const done = store.changeDeliverySync(event.endpoint_id, event.position, (d) =>
        // Finished here already (this process sent it): its own record has the attempts and times.
        d.status !== 'pending'
          ? d
          : {
              ...d,
              status: event.status,
              attempt_count: Math.max(d.attempt_count, event.attempt_count),
              next_attempt_at: null,
              delivered_at: event.status === 'delivered' ? event.at : d.delivered_at,
              failed_at: event.status === 'failed' ? event.at : d.failed_at,
              redelivery: false,
            },
      );
      if (!done) return;
      if (event.status === 'delivered')
        store.changeEndpointSync(
          event.endpoint_id,
          (e) =>
            e && {
              ...e,
              failing_since: null,
              consecutive_failures: 0,
              last_success_at: maxIso(e.last_success_at, event.at),
            },
        );
      touched.add(event.endpoint_id);
    });
  }
}

const maxIso = (a: string | null, b: string): string => (a !== null && a > b ? a : b);

function newDelivery(endpointId: string, event: JobEvent, now: string): WebhookDelivery {
  return {
    id: event.position,
    endpoint_id: endpointId,
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
  };
}
