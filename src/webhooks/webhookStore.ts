import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Database, RootDatabase } from 'lmdb';
import { ABORT, open } from 'lmdb';
import type { EventType } from '../domain/events.ts';
import type { LeaseHolderRecord } from '../infra/leases/leaseLiveness.ts';
import { isLeaseLive } from '../infra/leases/leaseLiveness.ts';
import { padPosition } from '../projections/index.ts';
import type { SealedSecret } from './secretBox.ts';
import type { AttemptResult } from './sendWebhook.ts';

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

export const MAX_ATTEMPTS_KEPT = 20;
const CHECKPOINT = 'checkpoint';
/** The revision of the last registry event applied (registry events are applied once, in order). */
const REGISTRY_REVISION = 'registry_revision';
const SENDER_LEASE = 'sender_lease';
/** Set once the response snippets older versions kept in attempts have been dropped. */
const BODIES_DROPPED = 'attempt_bodies_dropped';

interface SenderLease extends LeaseHolderRecord {
  owner: string;
}
const MAX_KEY = '\uffff';

type DeliveryKey = [string, string];

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
 */
export class WebhookStore {
  readonly env: RootDatabase;
  readonly endpoints: Database<WebhookEndpoint, string>;
  readonly deliveries: Database<WebhookDelivery, DeliveryKey>;
  readonly pending: Database<null, DeliveryKey>;
  readonly jobPipelines: Database<string, string>;
  readonly meta: Database<string, string>;

  private constructor(readonly path: string) {
    this.env = open({ path, maxDbs: 16, encoding: 'json' });
    this.endpoints = this.env.openDB('endpoints', { encoding: 'json' });
    this.deliveries = this.env.openDB('deliveries', { encoding: 'json' });
    this.pending = this.env.openDB('pending', { encoding: 'json' });
    this.jobPipelines = this.env.openDB('job_pipelines', { encoding: 'string' });
    this.meta = this.env.openDB('meta', { encoding: 'string' });
  }

  static open(dataDir: string): WebhookStore {
    return new WebhookStore(join(dataDir, 'webhooks'));
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
    const committed = await this.env.transaction(() => {
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
    await this.endpoints.put(endpoint.id, endpoint);
  }

  /** Changes an endpoint in one transaction; `change` gets the current row (and must not throw). */
  async updateEndpoint(
    id: string,
    change: (e: WebhookEndpoint) => WebhookEndpoint,
  ): Promise<WebhookEndpoint | undefined> {
    let updated: WebhookEndpoint | undefined;
    await this.env.transaction(() => {
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
    await this.env.transaction(() => {
      found = this.endpoints.get(id) !== undefined;
      if (!found) return;
      this.endpoints.removeSync(id);
      for (const key of this.deliveries.getKeys({ start: [id, ''], end: [id, MAX_KEY] }))
        this.deliveries.removeSync(key);
      for (const key of this.pending.getKeys({ start: [id, ''], end: [id, MAX_KEY] }))
        this.pending.removeSync(key);
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
    const committed = await this.env.transaction(() => {
      if ((this.meta.get(CHECKPOINT) ?? null) !== expected) return ABORT;
      for (const d of deliveries) {
        if (this.endpoints.get(d.endpoint_id) === undefined) continue;
        const key = deliveryKey(d.endpoint_id, d.position);
        if (this.deliveries.get(key) !== undefined) continue;
        this.deliveries.putSync(key, d);
        this.pending.putSync(key, null);
        touched.add(d.endpoint_id);
      }
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
    await this.env.transaction(() => {
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

  /** An endpoint's deliveries, newest first, from before `cursor` (a delivery id), with an optional status. */
  listDeliveries(
    endpointId: string,
    query: { status?: DeliveryStatus; limit: number; cursor?: string },
  ): { deliveries: WebhookDelivery[]; next_cursor: string | null } {
    const deliveries: WebhookDelivery[] = [];
    let last: string | null = null;
    let more = false;
    for (const { value } of this.deliveries.getRange({
      start: query.cursor === undefined ? [endpointId, MAX_KEY] : deliveryKey(endpointId, query.cursor),
      end: [endpointId, ''],
      exclusiveStart: query.cursor !== undefined,
      reverse: true,
    })) {
      if (query.status !== undefined && value.status !== query.status) continue;
      if (deliveries.length === query.limit) {
        more = true;
        break;
      }
      deliveries.push(value);
      last = value.position;
    }
    return { deliveries, next_cursor: more ? last : null };
  }

  /**
   * Removes delivered and failed deliveries finished before `before` (ISO). Deliveries are visited in
   * position order, and one queued after `before` cannot have finished before it, so the scan stops there.
   */
  async prune(before: string): Promise<number> {
    let removed = 0;
    for (const endpoint of this.listEndpoints()) {
      const keys: DeliveryKey[] = [];
      for (const { key, value } of this.deliveries.getRange({
        start: [endpoint.id, ''],
        end: [endpoint.id, MAX_KEY],
      })) {
        if (value.created_at >= before) break;
        const finished = value.delivered_at ?? value.failed_at;
        if (value.status !== 'pending' && finished !== null && finished < before) keys.push(key);
      }
      if (keys.length === 0) continue;
      await this.env.transaction(() => {
        for (const key of keys) {
          const d = this.deliveries.get(key);
          if (d && d.status !== 'pending') this.deliveries.removeSync(key);
        }
      });
      removed += keys.length;
    }
    return removed;
  }

  /**
   * Takes or renews the sender lease: only its holder runs the outbox and sends, so two processes on one
   * data dir never send the same endpoint's deliveries side by side (out of order). A lease whose holder
   * process is gone is taken over at once (the projection leases' rule). True when held.
   */
  acquireSenderLease(owner: string, ttlMs: number, now: number): boolean {
    return this.env.transactionSync(() => {
      const current = this.senderLease();
      if (current && current.owner !== owner && isLeaseLive(current, now)) return false;
      const lease: SenderLease = { owner, pid: process.pid, host: hostname(), expires_at: now + ttlMs };
      this.meta.putSync(SENDER_LEASE, JSON.stringify(lease));
      return true;
    });
  }

  /** The sender lease as recorded (whoever holds it, live or not). */
  senderLease(): SenderLease | undefined {
    const raw = this.meta.get(SENDER_LEASE);
    return raw === undefined ? undefined : (JSON.parse(raw) as SenderLease);
  }

  releaseSenderLease(owner: string): void {
    this.env.transactionSync(() => {
      const raw = this.meta.get(SENDER_LEASE);
      if (raw !== undefined && (JSON.parse(raw) as SenderLease).owner === owner)
        this.meta.removeSync(SENDER_LEASE);
    });
  }

  /**
   * Removes the answer snippets (`response`) that earlier versions stored with each attempt: nothing a
   * target answered is kept beyond its status. Runs once per store; resolves to the deliveries changed.
   */
  async dropStoredResponseBodies(): Promise<number> {
    if (this.meta.get(BODIES_DROPPED) !== undefined) return 0;
    let changed = 0;
    await this.env.transaction(() => {
      for (const { key, value } of this.deliveries.getRange({})) {
        if (!value.attempts.some((a) => 'response' in a)) continue;
        const attempts = value.attempts.map(
          ({ response: _dropped, ...kept }: DeliveryAttempt & { response?: unknown }) => kept,
        );
        this.deliveries.putSync(key, { ...value, attempts });
        changed++;
      }
      this.meta.putSync(BODIES_DROPPED, new Date().toISOString());
    });
    return changed;
  }

  async close(): Promise<void> {
    await this.env.close();
  }
}

export function deliveryKey(endpointId: string, position: string): DeliveryKey {
  return [endpointId, padPosition(position)];
}
