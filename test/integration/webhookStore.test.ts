import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { JobEvent } from '../../src/domain/events.ts';
import { newLeaseHolder } from '../../src/infra/leases/lmdbLeases.ts';
import {
  dropStoredResponseBodies,
  listDeliveries,
  pruneDeliveries,
} from '../../src/webhooks/deliveryHistory.ts';
import { afterAttempt } from '../../src/webhooks/deliveryOutcome.ts';
import type { WebhookFeedItem } from '../../src/webhooks/webhookProjection.ts';
import { WebhookProjection } from '../../src/webhooks/webhookProjection.ts';
import type { WebhookEndpoint } from '../../src/webhooks/webhookRecords.ts';
import { SENDER_LEASE, WebhookStore } from '../../src/webhooks/webhookStore.ts';
import { testEndpoint } from '../helpers/webhookFixtures.ts';

async function openStore(
  t: { teardown(fn: () => Promise<void>): void },
  now: () => number = Date.now,
): Promise<WebhookStore> {
  const dir = await mkdtemp(join(tmpdir(), 'operator-webhooks-'));
  const store = WebhookStore.open(dir, now);
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return store;
}

const endpoint = (id: string, over: Partial<WebhookEndpoint> = {}): WebhookEndpoint =>
  testEndpoint({ id, ...over });

let position = 0;
const event = (jobId: string, type: JobEvent['type'], payload: Record<string, unknown> = {}): JobEvent => {
  position++;
  return {
    id: `e${position}`,
    job_id: jobId,
    seq: 0,
    position: String(position),
    ts: '2026-01-01T00:00:00.000Z',
    type,
    stage: null,
    status: 'queued',
    message: '',
    payload,
    actor: 'root',
  };
};

test('the outbox queues each wanted event once per endpoint, with the checkpoint, filters applied', async (t) => {
  const store = await openStore(t);
  await store.putEndpoint(endpoint('all'));
  await store.putEndpoint(endpoint('failures', { event_types: ['job_failed'] }));
  await store.putEndpoint(endpoint('video', { pipelines: ['video'] }));
  await store.putEndpoint(endpoint('late', { created_position: '1000000' }));
  await store.putEndpoint(endpoint('off', { enabled: false, jobs: ['a'] }));
  const woken: string[][] = [];
  const projection = new WebhookProjection({ store, onEnqueued: (ids) => woken.push([...ids].sort()) });
  // job_created carries the whole pipeline definition, as the decider writes it
  const pipeline = (name: string) => ({ name, stages: [{ name: 'work', retries: 0, env: {} }] });
  const batch = [
    event('a', 'job_created', { pipeline: pipeline('video'), params: {} }),
    event('b', 'job_created', { pipeline: pipeline('audio'), params: {} }),
    event('a', 'job_failed'),
  ];
  await projection.apply(batch);
  await projection.apply(batch); // a replay changes nothing
  t.is(await projection.checkpoint(), batch[2]?.position ?? null);
  const [e1, e2, e3] = batch.map((e) => e.id);
  const ids = (id: string) => listDeliveries(store, id, { limit: 100 }).deliveries.map((d) => d.event_id);
  t.deepEqual(ids('all'), [e3, e2, e1]);
  t.deepEqual(ids('failures'), [e3]);
  t.deepEqual(ids('video'), [e3, e1], 'the pipeline learnt from job_created');
  t.deepEqual(ids('late'), []);
  t.deepEqual(ids('off'), [e3, e1], 'a disabled endpoint keeps queueing');
  t.deepEqual(woken, [['all', 'failures', 'off', 'video']]);
  // the job's pipeline is remembered across batches
  const e4 = event('a', 'job_started');
  await projection.apply([e4]);
  t.deepEqual(ids('video'), [e4.id, e3, e1]);
  // a racing writer is refused
  t.is(await store.enqueue(null, '99', [], new Map()), null);
  // head of the queue, paging, status filter
  t.is(store.headPending('all')?.event_id, e1);
  const page = listDeliveries(store, 'all', { limit: 2 });
  t.deepEqual(
    page.deliveries.map((d) => d.event_id),
    [e4.id, e3],
  );
  t.deepEqual(
    listDeliveries(store, 'all', { limit: 2, cursor: page.next_cursor as string }).deliveries.map(
      (d) => d.event_id,
    ),
    [e2, e1],
  );
  t.is(await store.deleteEndpoint('all'), true);
  t.is(store.headPending('all'), undefined);
  t.deepEqual(ids('all'), []);
});

test('attempts move the queue; pruning drops old finished deliveries only', async (t) => {
  const store = await openStore(t);
  await store.putEndpoint(endpoint('x'));
  const projection = new WebhookProjection({ store, clock: () => new Date('2026-01-01T00:00:00.000Z') });
  const events = [event('a', 'job_created'), event('a', 'job_started'), event('a', 'job_completed')];
  await projection.apply(events);
  const policy = { schedule: [10], jittered: (d: number) => d, disableAfterMs: 1e9 };
  t.is(store.headPending('x')?.event_id, events[0]?.id);
  const ok = { status_code: 200, latency_ms: 1, error_class: null, error: null };
  const at = Date.parse('2026-01-01T00:00:01.000Z');
  await store.updateDelivery('x', events[0]?.position as string, (d, e) =>
    afterAttempt(d, e, ok, at, policy),
  );
  t.is(store.headPending('x')?.event_id, events[1]?.id, 'the next one is due once the first is delivered');
  t.is(store.pendingCount(), 2);
  t.is(await pruneDeliveries(store, '2026-01-01T00:00:00.500Z'), 0, 'finished after the cut-off');
  t.is(await pruneDeliveries(store, '2026-01-02T00:00:00.000Z'), 1);
  t.is(listDeliveries(store, 'x', { limit: 10 }).deliveries.length, 2);
  t.is(store.pendingCount(), 2);
});

test('the sender lease: held by one owner until it expires or is released', async (t) => {
  let now = 0;
  const store = await openStore(t, () => now);
  const [one, two] = [newLeaseHolder('sender'), newLeaseHolder('sender')];
  t.true(store.leases.tryAcquire(SENDER_LEASE, one, 1000));
  now = 500;
  t.false(store.leases.tryAcquire(SENDER_LEASE, two, 1000));
  now = 900;
  t.true(store.leases.tryAcquire(SENDER_LEASE, one, 1000), 'renewed by its holder');
  now = 2000;
  t.true(store.leases.tryAcquire(SENDER_LEASE, two, 1000), 'taken once expired');
  store.leases.release(SENDER_LEASE, two);
  now = 2001;
  t.true(store.leases.tryAcquire(SENDER_LEASE, one, 1000));
});

test('the sender lease of a process that is gone is taken over at once; a live holder keeps it (records of earlier versions too)', async (t) => {
  let skew = 0;
  const store = await openStore(t, () => Date.now() + skew);
  const mine = newLeaseHolder('sender');
  t.true(store.leases.tryAcquire(SENDER_LEASE, mine, 60_000));
  // A holder on this host whose pid no longer exists: what a server killed with -9 leaves behind. The
  // records are in the format earlier versions wrote (no role, no acquired_at).
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  const deadPid = Number(dead.stdout.toString());
  await store.meta.put(
    'sender_lease',
    JSON.stringify({ owner: 'killed', pid: deadPid, host: hostname(), expires_at: Date.now() + 60_000 }),
  );
  t.true(store.leases.tryAcquire(SENDER_LEASE, mine, 60_000), 'taken over before it expires');
  t.is(store.leases.read(SENDER_LEASE)?.owner, mine.owner);
  // A live holder (this very process, another owner) is waited for until its lease expires.
  await store.meta.put(
    'sender_lease',
    JSON.stringify({ owner: 'alive', pid: process.pid, host: hostname(), expires_at: Date.now() + 60_000 }),
  );
  t.false(store.leases.tryAcquire(SENDER_LEASE, mine, 60_000));
  t.like(store.leases.read(SENDER_LEASE), { owner: 'alive', role: 'unknown', acquired_at: '' });
  // Another host's holder cannot be probed: it is trusted until expiry.
  await store.meta.put(
    'sender_lease',
    JSON.stringify({ owner: 'far', pid: deadPid, host: 'elsewhere', expires_at: Date.now() + 60_000 }),
  );
  t.false(store.leases.tryAcquire(SENDER_LEASE, mine, 60_000));
  skew = 60_001;
  t.true(store.leases.tryAcquire(SENDER_LEASE, mine, 60_000));
});

test('answer snippets stored by earlier versions are dropped once', async (t) => {
  const store = await openStore(t);
  await store.putEndpoint(endpoint('x'));
  const projection = new WebhookProjection({ store, clock: () => new Date('2026-01-01T00:00:00.000Z') });
  const e1 = event('old', 'job_created');
  await projection.apply([e1]);
  const legacy = { status_code: 500, latency_ms: 1, error: 'HTTP 500', response: 'root:x:0:0:root' };
  await store.updateDelivery('x', e1.position, (d, e) => ({
    delivery: { ...d, attempts: [{ at: '2026-01-01T00:00:01.000Z', ...legacy } as never] },
    endpoint: e,
  }));
  t.is(await dropStoredResponseBodies(store), 1);
  const attempt = store.delivery('x', e1.position)?.attempts[0];
  t.false(attempt !== undefined && 'response' in attempt);
  t.is(attempt?.status_code, 500);
  t.is(await dropStoredResponseBodies(store), 0, 'done once');
});

test('the feed in log order: an endpoint gets the job events after its registration; acknowledgements from another process finish its rows; disable, enable, redelivery and delete follow the registry', async (t) => {
  const store = await openStore(t);
  const woken: string[] = [];
  const projection = new WebhookProjection({
    store,
    clock: () => new Date('2026-01-01T00:00:00.000Z'),
    onEnqueued: (ids) => woken.push(...ids),
  });
  const sealed = { alg: 'A256GCM' as const, kid: 'k', iv: 'i', tag: 't', data: 'd' };
  let revision = -1;
  const registry = (e: Record<string, unknown>): WebhookFeedItem => {
    position++;
    revision++;
    return {
      kind: 'registry',
      position: String(position),
      revision,
      event: { endpoint_id: 'wh_r', at: '2026-01-01T00:00:00.000Z', ...e } as never,
    };
  };
  const job = (jobId: string, type: JobEvent['type']): WebhookFeedItem => ({
    kind: 'job',
    event: event(jobId, type),
  });
  const before = job('r', 'job_created');
  const registered = registry({
    type: 'webhook_endpoint_registered',
    url: 'http://192.0.2.10/hook',
    description: null,
    event_types: [],
    jobs: [],
    pipelines: [],
    sealed_secret: sealed,
    created_position: null,
  });
  const e1 = job('r', 'job_started');
  const e2 = job('r', 'job_completed');
  await projection.applyFeed([before, registered, e1, e2]);
  const row = store.endpoint('wh_r');
  t.like(row, {
    source: 'api',
    created_position: registered.kind === 'registry' ? registered.position : '',
    enabled: true,
  });
  t.deepEqual(row?.sealed_secret, sealed);
  t.false(row !== undefined && 'secret' in row, 'no clear secret in the row');
  const ids = () =>
    listDeliveries(store, 'wh_r', { limit: 100 }).deliveries.map((d) => `${d.position}:${d.status}`);
  const p = (item: WebhookFeedItem) => (item.kind === 'job' ? item.event.position : item.position);
  t.deepEqual(ids(), [`${p(e2)}:pending`, `${p(e1)}:pending`], 'only what came after the registration event');
  // another process delivered e1 and acknowledged it: the row takes the outcome
  position++;
  await projection.applyFeed([
    {
      kind: 'checkpoint',
      position: String(position),
      event: {
        type: 'webhook_delivery_acknowledged',
        endpoint_id: 'wh_r',
        position: p(e1),
        event_id: 'x',
        status: 'delivered',
        at: '2026-01-01T00:00:05.000Z',
        attempt_count: 2,
        status_code: 204,
        redelivery: false,
        checkpoint: p(e1),
      },
    },
  ]);
  t.deepEqual(ids(), [`${p(e2)}:pending`, `${p(e1)}:delivered`]);
  t.like(store.delivery('wh_r', p(e1)), { attempt_count: 2, delivered_at: '2026-01-01T00:00:05.000Z' });
  t.is(store.endpoint('wh_r')?.last_success_at, '2026-01-01T00:00:05.000Z');
  // registry changes, each applied once even when the feed is read again
  const disabled = registry({ type: 'webhook_endpoint_disabled', reason: 'too many failures' });
  await projection.applyFeed([disabled]);
  t.like(store.endpoint('wh_r'), { enabled: false, disabled_reason: 'too many failures' });
  const redelivery = registry({ type: 'webhook_redelivery_requested', position: p(e1) });
  const enabled = registry({ type: 'webhook_endpoint_enabled' });
  await projection.applyFeed([redelivery, enabled]);
  t.like(store.endpoint('wh_r'), { enabled: true, disabled_reason: null });
  t.like(store.delivery('wh_r', p(e1)), { status: 'pending', redelivery: true });
  t.is(store.headPending('wh_r')?.position, p(e1), 'a redelivery goes before later pending ones');
  t.is(store.registryRevision(), revision);
  await projection.applyFeed([disabled], false); // registry-only mode, an old event: ignored
  t.true(store.endpoint('wh_r')?.enabled);
  t.true(woken.includes('wh_r'));
  await projection.applyFeed([registry({ type: 'webhook_endpoint_deleted' }), job('r', 'job_started')]);
  t.is(store.endpoint('wh_r'), undefined);
  t.deepEqual(ids(), [], 'its rows go with it, and nothing is queued for it after');
});
