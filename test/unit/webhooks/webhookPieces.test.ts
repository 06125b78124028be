import { createHmac } from 'node:crypto';
import test from 'ava';
import { afterAttempt, redelivered } from '../../../src/webhooks/deliveryOutcome.ts';
import { retrySchedule, withJitter } from '../../../src/webhooks/retrySchedule.ts';
import type { WebhookDelivery } from '../../../src/webhooks/webhookRecords.ts';
import { generateWebhookSecret, signWebhook } from '../../../src/webhooks/webhookSignature.ts';
import { testEndpoint } from '../../helpers/webhookFixtures.ts';

test('the default schedule doubles from 5 s, caps at 6 h and fits in about a day', (t) => {
  const delays = retrySchedule({
    firstDelayMs: 5000,
    maxDelayMs: 6 * 3_600_000,
    giveUpAfterMs: 24 * 3_600_000,
  });
  t.deepEqual(delays.slice(0, 4), [5000, 10_000, 20_000, 40_000]);
  t.is(Math.max(...delays), 6 * 3_600_000);
  const total = delays.reduce((a, b) => a + b, 0);
  t.true(total <= 24 * 3_600_000 && total > 20 * 3_600_000, `${total}`);
  t.is(delays.length, 15);
  t.deepEqual(retrySchedule({ firstDelayMs: 10, maxDelayMs: 40, giveUpAfterMs: 100 }), [10, 20, 40]);
});

test('jitter stays within its fraction either way', (t) => {
  t.is(
    withJitter(1000, 0.2, () => 0),
    800,
  );
  t.is(
    withJitter(1000, 0.2, () => 1),
    1200,
  );
  t.is(withJitter(1000, 0, Math.random), 1000);
});

test('secrets are whsec_ + base64 of 24 bytes; the signature is v1, + base64 HMAC-SHA256 of id.timestamp.body', (t) => {
  const secret = generateWebhookSecret();
  t.regex(secret, /^whsec_[A-Za-z0-9+/]{32}$/);
  t.not(secret, generateWebhookSecret());
  // the example of the Standard Webhooks specification
  const specSecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const body = '{"test": 2432232314}';
  t.is(
    signWebhook(specSecret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, body),
    'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
  );
  const key = Buffer.from(specSecret.slice(6), 'base64');
  const mac = createHmac('sha256', key).update(`id.1.${body}`).digest('base64');
  t.is(signWebhook(specSecret, 'id', 1, body), `v1,${mac}`);
});

const endpoint = testEndpoint;

const delivery = (over: Partial<WebhookDelivery> = {}): WebhookDelivery => ({
  id: '7',
  endpoint_id: 'wh_1',
  event_id: 'e7',
  position: '7',
  job_id: 'j',
  type: 'job_created',
  status: 'pending',
  created_at: '2026-01-01T00:00:00.000Z',
  next_attempt_at: '2026-01-01T00:00:00.000Z',
  attempt_count: 0,
  cycle_attempts: 0,
  attempts: [],
  delivered_at: null,
  failed_at: null,
  body: '{}',
  ...over,
});

const policy = { schedule: [100, 200], jittered: (d: number) => d, disableAfterMs: 10_000 };
const fail = { status_code: 500, latency_ms: 3, error_class: 'http_status', error: 'HTTP 500' } as const;
const ok = { status_code: 204, latency_ms: 2, error_class: null, error: null };
const T0 = Date.parse('2026-01-01T00:00:00.000Z');

test('a failed attempt follows the schedule, then the delivery fails for good', (t) => {
  let state = { delivery: delivery(), endpoint: endpoint() };
  state = afterAttempt(state.delivery, state.endpoint, fail, T0, policy);
  t.is(state.delivery.status, 'pending');
  t.is(state.delivery.next_attempt_at, new Date(T0 + 100).toISOString());
  t.is(state.endpoint.failing_since, new Date(T0).toISOString());
  state = afterAttempt(state.delivery, state.endpoint, fail, T0 + 100, policy);
  t.is(state.delivery.next_attempt_at, new Date(T0 + 300).toISOString());
  state = afterAttempt(state.delivery, state.endpoint, fail, T0 + 300, policy);
  t.is(state.delivery.status, 'failed');
  t.is(state.delivery.attempt_count, 3);
  t.deepEqual(
    state.delivery.attempts.map((a) => a.status_code),
    [500, 500, 500],
  );
  t.is(state.endpoint.consecutive_failures, 3);
  t.true(state.endpoint.enabled);
  // a redelivery starts a fresh schedule, history kept
  const again = redelivered(state.delivery, T0 + 400);
  t.is(again.status, 'pending');
  t.is(again.cycle_attempts, 0);
  t.is(again.attempt_count, 3);
  const done = afterAttempt(again, state.endpoint, ok, T0 + 400, policy);
  t.is(done.delivery.status, 'delivered');
  t.is(done.endpoint.failing_since, null);
  t.is(done.endpoint.consecutive_failures, 0);
});

test('an endpoint failing for longer than disable_after is disabled, with a reason', (t) => {
  const failing = endpoint({ failing_since: new Date(T0).toISOString(), consecutive_failures: 9 });
  const early = afterAttempt(delivery(), failing, fail, T0 + 9_999, policy);
  t.false(early.disabled);
  const late = afterAttempt(delivery(), failing, fail, T0 + 10_000, policy);
  t.true(late.disabled);
  t.false(late.endpoint.enabled);
  t.regex(late.endpoint.disabled_reason ?? '', /\(10 in a row\); last: HTTP 500/);
});

test('a 410 Gone disables the endpoint at once; the delivery keeps its schedule', (t) => {
  const gone = { status_code: 410, latency_ms: 3, error_class: 'http_status', error: 'HTTP 410' } as const;
  const first = afterAttempt(delivery(), endpoint(), gone, T0, policy);
  t.true(first.disabled);
  t.false(first.endpoint.enabled);
  t.regex(first.endpoint.disabled_reason ?? '', /410 Gone/);
  t.is(first.delivery.status, 'pending');
  t.is(first.delivery.next_attempt_at, new Date(T0 + 100).toISOString());
  // once disabled, another answer does not disable it again (one log line, one count)
  t.false(afterAttempt(first.delivery, first.endpoint, gone, T0 + 100, policy).disabled);
  // other 4xx answers are retried as before
  const teapot = { ...gone, status_code: 418, error: 'HTTP 418' } as const;
  t.false(afterAttempt(delivery(), endpoint(), teapot, T0, policy).disabled);
});
