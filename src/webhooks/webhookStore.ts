import { join } from 'node:path';
import type { Database, RootDatabase } from 'lmdb';
import { ABORT, open } from 'lmdb';
import { LmdbLeases } from '../infra/leases/lmdbLeases.ts';
import { lmdbTransaction, lmdbWrite } from '../infra/lmdb/lmdbWrite.ts';
import { padPosition } from '../projections/index.ts';
import type { WebhookDelivery, WebhookEndpoint } from './webhookRecords.ts';

const CHECKPOINT = 'checkpoint';
/** The revision of the last registry event applied (registry events are applied once, in order). */
const REGISTRY_REVISION = 'registry_revision';
/** Only its holder runs the outbox and sends (see `WebhookService`); kept in `meta`, through `leases`. */
export const SENDER_LEASE = 'sender_lease';
/** After every position: the end of an endpoint's key range. */
export const MAX_KEY = '\uffff';

export type DeliveryKey = [string, string];

/**
 * The webhooks' LMDB environment (`<data_dir>/webhooks`): endpoints, the delivery outbox and its
 * projection checkpoint. It is not derived from the log alone (endpoints are registered through the API,
 * attempts are history), so a read model rebuild never touches it and never re-sends anything.
 *
 * | table         | key                               | value                  |
 * |---------------|-----------------------------------|------------------------|
 * | endpoints     | endpoint id                       | WebhookEndpoint        |
 * | deliveries    | [endpoint id, padded position]    | WebhookDelivery        |
 * | pending       | [endpoint id, padded position]    | null (the work queue)  |
 * | job_pipelines | job id                            | pipeline name          |
 * | meta          | 'checkpoint', 'sender_lease'      | position; lease JSON   |
 *
 * The rows' shapes are in `webhookRecords.ts`.
 */
export class WebhookStore {
  readonly env: RootDatabase;
  readonly endpoints: Database<WebhookEndpoint, string>;
  readonly deliveries: Database<WebhookDelivery, DeliveryKey>;
  readonly pending: Database<null, DeliveryKey>;
  readonly jobPipelines: Database<string, string>;
  readonly meta: Database<string, string>;
  /** The sender lease (`SENDER_LEASE`), in `meta`. */
  readonly leases: LmdbLeases;

  private constructor(
    readonly path: string,
    now: () => number,
  ) {
    this.env = open({ path, maxDbs: 16, encoding: 'json' });
    this.endpoints = this.env.openDB('endpoints', { encoding: 'json' });
    this.deliveries = this.env.openDB('deliveries', { encoding: 'json' });
    this.pending = this.env.openDB('pending', { encoding: 'json' });
    this.jobPipelines = this.env.openDB('job_pipelines', { encoding: 'string' });
    this.meta = this.env.openDB('meta', { encoding: 'string' });
    this.leases = new LmdbLeases(this.meta, now);
  }

  /** `now` is the leases' clock. */
  static open(dataDir: string, now: () => number = Date.now): WebhookStore {
    return new WebhookStore(join(dataDir, 'webhooks'), now);
  }

  checkpoint(): string | null {
    return this.meta.get(CHECKPOINT) ?? null;
  }

  /** The revision of the last registry event applied here, -1 before any. */
  registryRevision(): number {
    const raw = this.meta.get(REGISTRY_REVISION);
    return raw === undefined ? -1 : Number(raw);
  }

  /**
   * One write of the log follower: `body` (synchronous puts through the `…Sync` methods below; it must not
   * throw) and, with `checkpoint`, the move of the outbox checkpoint from `expected` to `next`, in one
   * transaction that is abandoned when the checkpoint is no longer `expected`. False on that conflict.
   */
  async commit(
    checkpoint: { expected: string | null; next: string } | null,
    body: () => void,
  ): Promise<boolean> {
    const committed = await lmdbTransaction(this.env, () => {
      if (checkpoint && (this.meta.get(CHECKPOINT) ?? null) !== checkpoint.expected) return ABORT;
      body();
      if (checkpoint) this.meta.putSync(CHECKPOINT, checkpoint.next);
      return true;
    });
    return committed === true;
  }

  /** In `commit`: a registry event at `revision` is applied only once; true when it is new here. */
  claimRegistryRevisionSync(revision: number): boolean {
    if (revision <= this.registryRevision()) return false;
    this.meta.putSync(REGISTRY_REVISION, String(revision));
    return true;
  }

  /** In `commit`: changes an endpoint row (`change` gets the current one or undefined; undefined removes nothing). */
  changeEndpointSync(
    id: string,
    change: (current: WebhookEndpoint | undefined) => WebhookEndpoint | undefined,
  ): WebhookEndpoint | undefined {
    const next = change(this.endpoints.get(id));
    if (next) this.endpoints.putSync(id, next);
    return next;
  }

  /** In `commit`: removes an endpoint with its deliveries. */
  removeEndpointSync(id: string): void {
    this.endpoints.removeSync(id);
    for (const key of this.deliveries.getKeys({ start: [id, ''], end: [id, MAX_KEY] }))
      this.deliveries.removeSync(key);
    for (const key of this.pending.getKeys({ start: [id, ''], end: [id, MAX_KEY] }))
      this.pending.removeSync(key);
  }

  /** In `commit`: queues a delivery unless its row exists already (a replay). True when queued. */
  queueDeliverySync(delivery: WebhookDelivery): boolean {
    const key = deliveryKey(delivery.endpoint_id, delivery.position);
    if (this.deliveries.get(key) !== undefined) return false;
    this.deliveries.putSync(key, delivery);
    this.pending.putSync(key, null);
    return true;
  }

  /** In `commit`: changes a delivery row, the pending index following its status. */
  changeDeliverySync(
    endpointId: string,
    position: string,
    change: (d: WebhookDelivery) => WebhookDelivery,
  ): WebhookDelivery | undefined {
    const key = deliveryKey(endpointId, position);
    const current = this.deliveries.get(key);
    if (!current) return undefined;
    const next = change(current);
    this.deliveries.putSync(key, next);
    if (next.status === 'pending') this.pending.putSync(key, null);
    else this.pending.removeSync(key);
    return next;
  }

  /** In `commit`: remembers a job's pipeline (learnt from its `job_created`). */
  setJobPipelineSync(jobId: string, pipeline: string): void {
    this.jobPipelines.putSync(jobId, pipeline);
  }

  endpoint(id: string): WebhookEndpoint | undefined {
    return this.endpoints.get(id);
  }

  listEndpoints(): WebhookEndpoint[] {
    return [...this.endpoints.getRange({})].map(({ value }) => value);
  }

  async putEndpoint(endpoint: WebhookEndpoint): Promise<void> {
    await lmdbWrite(this.endpoints, () => this.endpoints.put(endpoint.id, endpoint));
  }

  /** Changes an endpoint in one transaction; `change` gets the current row (and must not throw). */
  async updateEndpoint(
    id: string,
    change: (e: WebhookEndpoint) => WebhookEndpoint,
  ): Promise<WebhookEndpoint | undefined> {
    let updated: WebhookEndpoint | undefined;
    await lmdbTransaction(this.env, () => {
      const current = this.endpoints.get(id);
      if (!current) return;
      updated = change(current);
      this.endpoints.putSync(id, updated);
    });
    return updated;
  }

  /** Removes the endpoint with its deliveries. */
  async deleteEndpoint(id: string): Promise<boolean> {
    let found = false;
    await lmdbTransaction(this.env, () => {
      found = this.endpoints.get(id) !== undefined;
      if (found) this.removeEndpointSync(id);
    });
    return found;
  }

  jobPipeline(jobId: string): string | undefined {
    return this.jobPipelines.get(jobId);
  }

  /**
   * The outbox write of one batch: its deliveries (for endpoints that still exist), the job
   * pipelines it learnt and the new checkpoint, in one transaction, only if the checkpoint is still
   * `expected`. Resolves to the endpoints that got a delivery, or null on a checkpoint conflict.
   */
  async enqueue(
    expected: string | null,
    next: string,
    deliveries: readonly WebhookDelivery[],
    pipelines: ReadonlyMap<string, string>,
  ): Promise<Set<string> | null> {
    const touched = new Set<string>();
    const committed = await lmdbTransaction(this.env, () => {
      if ((this.meta.get(CHECKPOINT) ?? null) !== expected) return ABORT;
      for (const d of deliveries)
        if (this.endpoints.get(d.endpoint_id) !== undefined && this.queueDeliverySync(d))
          touched.add(d.endpoint_id);
      for (const [jobId, pipeline] of pipelines) this.jobPipelines.putSync(jobId, pipeline);
      this.meta.putSync(CHECKPOINT, next);
      return true;
    });
    return committed === true ? touched : null;
  }

  /** The first pending delivery of an endpoint: the one the dispatcher sends next. */
  headPending(endpointId: string): WebhookDelivery | undefined {
    for (const key of this.pending.getKeys({
      start: [endpointId, ''],
      end: [endpointId, MAX_KEY],
      limit: 1,
    })) {
      const delivery = this.deliveries.get(key);
      if (delivery) return delivery;
    }
    return undefined;
  }

  delivery(endpointId: string, position: string): WebhookDelivery | undefined {
    return this.deliveries.get(deliveryKey(endpointId, position));
  }

  pendingCount(): number {
    return this.pending.getKeysCount();
  }

  /**
   * Changes a delivery and its endpoint together (an attempt's outcome, a redelivery): `change` gets the
   * current rows and returns the new ones (it must not throw). The pending index follows the status.
   */
  async updateDelivery(
    endpointId: string,
    position: string,
    change: (
      delivery: WebhookDelivery,
      endpoint: WebhookEndpoint,
    ) => { delivery: WebhookDelivery; endpoint: WebhookEndpoint },
  ): Promise<{ delivery: WebhookDelivery; endpoint: WebhookEndpoint } | undefined> {
    const key = deliveryKey(endpointId, position);
    let result: { delivery: WebhookDelivery; endpoint: WebhookEndpoint } | undefined;
    await lmdbTransaction(this.env, () => {
      const delivery = this.deliveries.get(key);
      const endpoint = this.endpoints.get(endpointId);
      if (!delivery || !endpoint) return;
      result = change(delivery, endpoint);
      this.deliveries.putSync(key, result.delivery);
      this.endpoints.putSync(endpointId, result.endpoint);
      if (result.delivery.status === 'pending') this.pending.putSync(key, null);
      else this.pending.removeSync(key);
    });
    return result;
  }

  async close(): Promise<void> {
    await this.env.close();
  }
}

export function deliveryKey(endpointId: string, position: string): DeliveryKey {
  return [endpointId, padPosition(position)];
}
