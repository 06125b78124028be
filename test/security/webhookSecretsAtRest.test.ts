import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { WebhookLog } from '../../src/webhooks/webhookLog.ts';
import { json, startTestServer } from '../helpers/testServer.ts';
import { startHookReceiver } from '../helpers/webhookFixtures.ts';

/**
 * Door: the event log (and every file of the data dir) never holds an endpoint secret in clear. Endpoints
 * registered through the API are events of the store, read by anyone who reads the log (export, audit,
 * a replica): their secret is sealed (AES-256-GCM) with `webhooks.secret_key`, or on LMDB with a key the
 * server generates into `<data_dir>/webhooks.key` (0600) and says so.
 */

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else out.push(path);
  }
  return out;
}

test('webhook secrets at rest: never in clear in the registry stream, the rest of the log or any data file; the generated key is 0600 and announced', async (t) => {
  const receiver = await startHookReceiver();
  t.teardown(() => receiver.close());
  const s = await startTestServer({ webhooks: { allow_targets: ['127.0.0.1/32'] } });
  t.teardown(() => s.stop());
  const given = `whsec_${randomBytes(32).toString('base64')}`;
  const registered = [
    await s.api('/webhooks', { method: 'POST', json: { url: receiver.url, secret: given } }),
    await s.api('/webhooks', { method: 'POST', json: { url: `${receiver.url}?two` } }),
  ];
  const secrets: string[] = [];
  for (const res of registered) {
    t.is(res.status, 201);
    secrets.push((await json<{ secret: string }>(res)).secret);
  }
  t.is(secrets[0], given);
  // Deliveries happen (the sealed secret opens and signs)...
  t.is((await s.api('/jobs', { method: 'POST', as: 'operator', json: { id: 'atrest1' } })).status, 201);
  const deadline = Date.now() + 10_000;
  while (receiver.received.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  t.true(receiver.received.length >= 2);

  // ... and the registry stream has them sealed only: every event of it read.
  const log = new WebhookLog(s.deps.store);
  const events = [];
  for await (const e of log.readRegistry()) events.push(e);
  t.is(events.length, 2);
  const keyFile = join(s.config.storage.data_dir, 'webhooks.key');
  const key = (await readFile(keyFile, 'utf8')).trim();
  for (const e of events) {
    const text = JSON.stringify(e);
    for (const secret of secrets) {
      t.false(text.includes(secret), `registry event ${e.revision}`);
      t.false(
        text.includes(secret.slice('whsec_'.length)),
        `registry event ${e.revision}: not even the key bytes`,
      );
    }
    t.false(text.includes(key), 'nor the sealing key');
    t.regex(text, /"sealed_secret":\{"alg":"A256GCM","kid":"[0-9a-f]{16}"/);
  }
  for await (const e of s.deps.store.readAll())
    for (const secret of secrets)
      t.false(JSON.stringify(e).includes(secret.slice('whsec_'.length)), e.streamId);
  // The API never shows either form.
  const listed = await (await s.api('/webhooks')).text();
  t.false(listed.includes('secret'));
  // No file of the data dir holds a secret in clear (LMDB pages keep whatever was written).
  for (const file of await filesUnder(s.config.storage.data_dir)) {
    const bytes = await readFile(file);
    for (const secret of secrets) t.is(bytes.indexOf(secret.slice('whsec_'.length)), -1, file);
  }
  // The generated key: owner-only, and said so in the log (where, never what).
  t.is((await stat(keyFile)).mode & 0o777, 0o600);
  t.true(s.logLines.some((l) => l.includes('generated one (mode 0600)') && l.includes(keyFile)));
  t.false(
    s.logLines.some((l) => l.includes(key)),
    'the key itself is never logged',
  );
});

test('webhook secrets at rest: a process with another key cannot sign; it says which key sealed the secret and sends nothing', async (t) => {
  const receiver = await startHookReceiver();
  t.teardown(() => receiver.close());
  const keyA = randomBytes(32).toString('base64');
  const first = await startTestServer({ webhooks: { allow_targets: ['127.0.0.1/32'], secret_key: keyA } });
  t.is((await first.api('/webhooks', { method: 'POST', json: { url: receiver.url } })).status, 201);
  await first.close();
  const keyB = randomBytes(32).toString('base64');
  const again = await startTestServer(
    { webhooks: { allow_targets: ['127.0.0.1/32'], secret_key: keyB } },
    { dir: first.dir },
  );
  t.teardown(() => again.stop());
  t.is((await again.api('/jobs', { method: 'POST', as: 'operator', json: { id: 'otherkey1' } })).status, 201);
  const deadline = Date.now() + 5_000;
  let line: string | undefined;
  while (!line && Date.now() < deadline) {
    line = again.logLines.find((l) => l.includes('cannot open the endpoint secret'));
    await new Promise((r) => setTimeout(r, 25));
  }
  t.truthy(line);
  t.regex(line ?? '', /sealed with key [0-9a-f]{16}, this process has key [0-9a-f]{16}/);
  t.false(again.logLines.some((l) => l.includes(keyA) || l.includes(keyB)));
  t.is(receiver.received.length, 0, 'nothing unsigned or wrongly signed went out');
});
