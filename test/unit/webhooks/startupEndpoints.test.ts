import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { Logger } from 'pino';
import type { StartupContext } from '../../../src/webhooks/startupEndpoints.ts';
import { moveLegacyEndpoints } from '../../../src/webhooks/startupEndpoints.ts';
import { GENERATED_KEY_FILE, WebhookKeyring } from '../../../src/webhooks/webhookKeyring.ts';
import type { RegistryEvent } from '../../../src/webhooks/webhookLog.ts';
import type { WebhookEndpoint } from '../../../src/webhooks/webhookRecords.ts';
import type { WebhookStore } from '../../../src/webhooks/webhookStore.ts';
import { keyringConfig, testEndpoint, twoDataDirs } from '../../helpers/webhookFixtures.ts';

/** A row as a version that kept API endpoints in the data dir only wrote it: the secret in clear. */
const legacy: WebhookEndpoint = testEndpoint({
  id: 'wh_legacy',
  url: 'https://hooks.example.test/in',
  secret: 'the clear secret',
  created_position: '41',
});

/** Runs the start-up move with a real keyring over `dataDir`; what it registered and logged. */
async function move(dataDir: string, sealedKids: readonly string[]) {
  const registered: RegistryEvent[] = [];
  const errors: string[] = [];
  const keyring = new WebhookKeyring(keyringConfig(dataDir), undefined, () => sealedKids);
  const logger = {
    error: (_fields: unknown, message: string) => errors.push(message),
    info: () => {},
  } as unknown as Logger;
  const ctx = {
    webhookStore: { listEndpoints: () => [legacy] } as unknown as WebhookStore,
    keyring,
    logger,
    iso: () => '2026-12-02T00:00:00.000Z',
    register: async (event: RegistryEvent) => {
      registered.push(event);
    },
  } as unknown as StartupContext;
  await moveLegacyEndpoints(ctx);
  return { registered, errors, keyring };
}

test('an endpoint of an earlier version moves into the registry with its id, start and sealed secret', async (t) => {
  const [dir] = await twoDataDirs(t);
  const { registered, errors, keyring } = await move(dir, []);
  t.deepEqual(errors, []);
  t.is(registered.length, 1);
  const event = registered[0] as Extract<RegistryEvent, { type: 'webhook_endpoint_registered' }>;
  t.like(event, {
    type: 'webhook_endpoint_registered',
    endpoint_id: 'wh_legacy',
    url: legacy.url,
    at: legacy.created_at,
    created_position: '41',
  });
  t.false(JSON.stringify(event).includes('the clear secret'), 'the registry event carries no clear secret');
  t.is(keyring.open('wh_legacy', event.sealed_secret), 'the clear secret');
});

test('a data dir restored without its key file keeps the endpoint where it is, and the log says which file to restore', async (t) => {
  const [original, restored] = await twoDataDirs(t);
  const sealer = new WebhookKeyring(keyringConfig(original));
  const kid = sealer.seal('wh_other', 'x').kid;

  const { registered, errors } = await move(restored, [kid]);
  t.deepEqual(registered, [], 'nothing sealed with a key that opens none of the other secrets');
  t.is(errors.length, 1);
  t.regex(errors[0] as string, /an endpoint of an earlier version stays in this data dir only/);
  const wanted = `sealed with key ${kid}, and ${join(restored, GENERATED_KEY_FILE)} is missing: restore it`;
  t.true((errors[0] as string).includes(wanted), errors[0]);

  await copyFile(join(original, GENERATED_KEY_FILE), join(restored, GENERATED_KEY_FILE));
  const after = await move(restored, [kid]);
  t.deepEqual(after.errors, []);
  t.is(after.registered.length, 1, 'moved at the next start once the key file is back');
});
