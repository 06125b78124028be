import { lmdbTransaction } from '../infra/lmdb/lmdbWrite.ts';
import type { DeliveryAttempt, DeliveryStatus, WebhookDelivery } from './webhookRecords.ts';
import type { DeliveryKey, WebhookStore } from './webhookStore.ts';
import { deliveryKey, MAX_KEY } from './webhookStore.ts';

/** Set once the response snippets older versions kept in attempts have been dropped. */
const BODIES_DROPPED = 'attempt_bodies_dropped';

/* The history side of the outbox: pages of an endpoint's deliveries, pruning the finished ones, and the
   one-time clean-up of what older versions stored. */

/** An endpoint's deliveries, newest first, from before `cursor` (a delivery id), with an optional status. */
export function listDeliveries(
  store: WebhookStore,
  endpointId: string,
  query: { status?: DeliveryStatus; limit: number; cursor?: string },
): { deliveries: WebhookDelivery[]; next_cursor: string | null } {
  const deliveries: WebhookDelivery[] = [];
  let last: string | null = null;
  let more = false;
  for (const { value } of store.deliveries.getRange({
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
export async function pruneDeliveries(store: WebhookStore, before: string): Promise<number> {
  let removed = 0;
  for (const endpoint of store.listEndpoints()) {
    const keys: DeliveryKey[] = [];
    for (const { key, value } of store.deliveries.getRange({
      start: [endpoint.id, ''],
      end: [endpoint.id, MAX_KEY],
    })) {
      if (value.created_at >= before) break;
      const finished = value.delivered_at ?? value.failed_at;
      if (value.status !== 'pending' && finished !== null && finished < before) keys.push(key);
    }
    if (keys.length === 0) continue;
    await lmdbTransaction(store.env, () => {
      for (const key of keys) {
        const d = store.deliveries.get(key);
        if (d && d.status !== 'pending') store.deliveries.removeSync(key);
      }
    });
    removed += keys.length;
  }
  return removed;
}

/**
 * Removes the answer snippets (`response`) that earlier versions stored with each attempt: nothing a
 * target answered is kept beyond its status. Runs once per store; resolves to the deliveries changed.
 */
export async function dropStoredResponseBodies(store: WebhookStore): Promise<number> {
  if (store.meta.get(BODIES_DROPPED) !== undefined) return 0;
  let changed = 0;
  await lmdbTransaction(store.env, () => {
    for (const { key, value } of store.deliveries.getRange({})) {
      if (!value.attempts.some((a) => 'response' in a)) continue;
      const attempts = value.attempts.map(
        ({ response: _dropped, ...kept }: DeliveryAttempt & { response?: unknown }) => kept,
      );
      store.deliveries.putSync(key, { ...value, attempts });
      changed++;
    }
    store.meta.putSync(BODIES_DROPPED, new Date().toISOString());
  });
  return changed;
}
