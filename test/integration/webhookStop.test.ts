import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { JobEvent } from '../../src/domain/events.ts';
import { OutboundPolicy } from '../../src/infra/net/outboundPolicy.ts';
import type { AttemptResult, sendWebhook } from '../../src/webhooks/sendWebhook.ts';
import { WebhookDispatcher } from '../../src/webhooks/webhookDispatcher.ts';
import { WebhookProjection } from '../../src/webhooks/webhookProjection.ts';
import { WebhookStore } from '../../src/webhooks/webhookStore.ts';
import { eventually, testEndpoint } from '../helpers/webhookFixtures.ts';

/**
 * Stopping the sender (shutdown, stepping down, the sender lease lost) with an attempt in flight: within the
 * grace its answer is recorded, so a clean restart does not send it again; past the grace it is cut and
 * left pending, to be sent again (at least once). Nothing new goes out once the stop began.
 */

const OK: AttemptResult = { status_code: 200, latency_ms: 1, error_class: null, error: null };
const CUT: AttemptResult = { status_code: null, latency_ms: 1, error_class: 'network', error: 'aborted' };

function event(seq: number): JobEvent {
  return {
    id: `e${seq}`,
    job_id: 'j1',
    seq,
    position: String(seq + 1),
    ts: '2026-01-01T00:00:00.000Z',
    type: seq === 0 ? 'job_created' : 'job_started',
    stage: null,
    status: seq === 0 ? 'queued' : 'running',
    message: '',
    payload: {},
    actor: 'root',
  };
}

/** A dispatcher over a fresh outbox holding two pending deliveries, sending through `send`. */
async function sender(t: { teardown(fn: () => Promise<void>): void }, send: typeof sendWebhook) {
  const dir = await mkdtemp(join(tmpdir(), 'operator-webhook-stop-'));
  const store = WebhookStore.open(dir);
  await store.putEndpoint(testEndpoint({ id: 'ep', url: 'http://192.0.2.10/hook' }));
  await new WebhookProjection({ store }).apply([event(0), event(1)]);
  const dispatcher = new WebhookDispatcher({
    store,
    policy: { schedule: [60_000], jittered: (d) => d, disableAfterMs: 1e9 },
    timeoutMs: 10_000,
    guard: { policy: new OutboundPolicy(['192.0.2.0/24']), ownPort: () => null },
    send,
  });
  t.teardown(async () => {
    await dispatcher.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { store, dispatcher };
}

test('a stop lets the attempt in flight finish within the grace and records it; nothing more is sent', async (t) => {
  const sent: string[] = [];
  let answer: (() => void) | null = null;
  const { store, dispatcher } = await sender(t, (_url, headers) => {
    sent.push(headers['webhook-id'] as string);
    return new Promise((resolve) => {
      answer = () => resolve(OK);
    });
  });
  dispatcher.start();
  await eventually('the first attempt out', () => (answer ? true : null));
  const stopped = dispatcher.stop(5000);
  await new Promise((r) => setTimeout(r, 100));
  (answer as unknown as () => void)();
  await stopped;
  t.deepEqual(sent, ['e0'], 'the second delivery was not sent after the stop began');
  const first = store.delivery('ep', '1');
  t.is(first?.status, 'delivered', 'the answer that came within the grace is recorded');
  t.is(first?.attempt_count, 1);
  t.is(store.delivery('ep', '2')?.status, 'pending');
});

/** A dispatcher whose first attempt gets no answer until it is cut; resolves once that attempt is out. */
async function hangingSender(t: { teardown(fn: () => Promise<void>): void }) {
  let signal: AbortSignal | undefined;
  const { store, dispatcher } = await sender(t, (_url, _headers, _body, options) => {
    signal = options.signal;
    return new Promise((resolve) => options.signal?.addEventListener('abort', () => resolve(CUT)));
  });
  dispatcher.start();
  await eventually('the first attempt out', () => (signal ? true : null));
  return { store, dispatcher, cut: () => signal?.aborted === true };
}

test('an attempt still out when the grace ends is cut and stays pending, unrecorded', async (t) => {
  const { store, dispatcher, cut } = await hangingSender(t);
  const started = Date.now();
  await dispatcher.stop(200);
  const took = Date.now() - started;
  t.true(cut(), 'the request was cut');
  t.true(took >= 150, `the stop waited for the grace (${took} ms)`);
  const first = store.delivery('ep', '1');
  t.is(first?.status, 'pending');
  t.is(first?.attempt_count, 0, 'a cut attempt is recorded nowhere: it is sent again');
});

test('a stop without a grace cuts the attempt at once', async (t) => {
  const { store, dispatcher, cut } = await hangingSender(t);
  await dispatcher.stop();
  t.true(cut());
  t.is(store.delivery('ep', '1')?.attempt_count, 0);
});
