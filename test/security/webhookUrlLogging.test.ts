import test from 'ava';
import { json, startTestServer } from '../helpers/testServer.ts';
import { eventually, startHookReceiver } from '../helpers/webhookFixtures.ts';

/**
 * Door: a webhook URL's credentials and query (`user:pass@`, `?token=`) never reach a log line: not at
 * registration, not when its attempts fail, not when it is disabled, not when it is refused.
 */

test('webhook URL logging: userinfo and query never reach a log line (registration, failures, disable, refusal)', async (t) => {
  const receiver = await startHookReceiver();
  t.teardown(() => receiver.close());
  receiver.answer = { status: 500 };
  const s = await startTestServer({
    webhooks: {
      allow_targets: ['127.0.0.1/32'],
      retry: { first_delay: '20ms', max_delay: '40ms', give_up_after: '10m', jitter: 0 },
      disable_after: '200ms',
    },
  });
  t.teardown(() => s.stop());
  const url = `http://user:pass@127.0.0.1:${receiver.port}/x?token=SECRET`;
  const res = await s.api('/webhooks', { method: 'POST', json: { url } });
  t.is(res.status, 201);
  const { webhook } = await json<{ webhook: { id: string } }>(res);
  // refused targets carrying credentials: the answer and any log line quote them without
  const refused = await s.api('/webhooks', {
    method: 'POST',
    json: { url: 'http://user:pass@10.0.0.1/x?token=SECRET' },
  });
  t.is(refused.status, 400);
  t.false((await refused.text()).includes('SECRET'));
  t.is((await s.api('/jobs', { method: 'POST', as: 'operator', json: { id: 'logs1' } })).status, 201);
  await eventually('the endpoint disabled', async () => {
    const e = await json<{ enabled: boolean }>(await s.api(`/webhooks/${webhook.id}`));
    return !e.enabled;
  });
  await eventually('the disable logged', () => s.logLines.some((l) => l.includes('endpoint disabled')));
  // every path that logs a webhook URL ran
  for (const what of ['endpoint registered', 'delivery attempt failed', 'endpoint disabled'])
    t.true(
      s.logLines.some((l) => l.includes(what) && l.includes(`127.0.0.1:${receiver.port}`)),
      `a "${what}" line naming the host`,
    );
  const leaking = s.logLines.filter((l) => l.includes('SECRET') || /\bpass\b/.test(l) || l.includes('user:'));
  t.deepEqual(leaking, []);
  t.true(receiver.received.length > 0);
  t.is(receiver.received[0]?.path, '/x?token=SECRET', 'the request itself still carries the full URL');
});
