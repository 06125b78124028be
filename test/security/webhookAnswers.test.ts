import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { json, startTestServer } from '../helpers/testServer.ts';
import { eventually, startHookReceiver } from '../helpers/webhookFixtures.ts';

/**
 * Door: a webhook is not a way to read what a target answers. Deliveries keep status, latency and an
 * error class; no byte of the answer's body reaches the API, the OpenAPI schema or the store's files.
 */

test('webhook answers: no byte of a response body is kept, shown or stored; status, latency and error class are', async (t) => {
  const receiver = await startHookReceiver();
  t.teardown(() => receiver.close());
  const failing = 'FAILING-BODY-root:x:0:0';
  const succeeding = 'SUCCEEDING-BODY-ami-id';
  receiver.answer = { status: 500, body: failing };
  const s = await startTestServer({
    webhooks: {
      allow_targets: ['127.0.0.1/32'],
      retry: { first_delay: '30ms', max_delay: '60ms', give_up_after: '10m', jitter: 0 },
    },
  });
  t.teardown(() => s.stop());
  const registered = await s.api('/webhooks', { method: 'POST', json: { url: receiver.url } });
  t.is(registered.status, 201);
  const { webhook } = await json<{ webhook: { id: string } }>(registered);
  t.is((await s.api('/jobs', { method: 'POST', as: 'operator', json: { id: 'answers1' } })).status, 201);
  await eventually('two failed attempts', () => receiver.received.length >= 2);
  receiver.answer = { status: 200, body: succeeding };
  const text = await eventually('delivered', async () => {
    const body = await (await s.api(`/webhooks/${webhook.id}/deliveries`)).text();
    return body.includes('"delivered"') ? body : null;
  });
  const { deliveries } = JSON.parse(text) as {
    deliveries: { attempts: Record<string, unknown>[] }[];
  };
  const attempts = deliveries[0]?.attempts ?? [];
  t.true(attempts.length >= 3);
  t.deepEqual(
    attempts.map((a) => Object.keys(a).sort()),
    attempts.map(() => ['at', 'error', 'error_class', 'latency_ms', 'status_code']),
  );
  t.is(attempts[0]?.status_code, 500);
  t.is(attempts[0]?.error_class, 'http_status');
  t.is(attempts.at(-1)?.status_code, 200);
  t.false(text.includes('FAILING-BODY') || text.includes('SUCCEEDING-BODY'), 'not in the API answer');
  const one = await (
    await s.api(`/webhooks/${webhook.id}/deliveries/${(deliveries[0] as { id?: string }).id}`)
  ).text();
  t.false(one.includes('BODY'), 'not in the single-delivery answer');
  // nor in any file of the data dir (LMDB pages hold whatever was ever written, until overwritten)
  const dir = join(s.config.storage.data_dir, 'webhooks');
  for (const name of await readdir(dir)) {
    const bytes = await readFile(join(dir, name));
    t.is(bytes.indexOf('FAILING-BODY'), -1, name);
    t.is(bytes.indexOf('SUCCEEDING-BODY'), -1, name);
  }
  // and the schema promises none
  const spec = await json<{ components?: unknown; paths: unknown }>(
    await s.api('/openapi.json', { as: null }),
  );
  const schema = JSON.stringify(spec);
  t.true(schema.includes('error_class'));
  t.false(/"response":\s*\{/.test(schema), 'no response field in the OpenAPI document');
});
