import { existsSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { Config } from '../../../src/infra/config/configSchema.ts';
import { keyId } from '../../../src/webhooks/secretBox.ts';
import {
  GENERATED_KEY_FILE,
  WebhookKeyFileMissingError,
  WebhookKeyMissingError,
  WebhookKeyring,
} from '../../../src/webhooks/webhookKeyring.ts';
import { keyringConfig, twoDataDirs } from '../../helpers/webhookFixtures.ts';

test('a data dir whose store holds sealed secrets gets no new key: it names the key to restore, and takes the restored file without a restart', async (t) => {
  const [original, restored] = await twoDataDirs(t);
  const sealer = new WebhookKeyring(keyringConfig(original));
  const sealed = sealer.seal('wh_1', 'the secret');
  t.true(existsSync(join(original, GENERATED_KEY_FILE)), 'the first seal generates the key file');
  t.is(sealed.kid, keyId(sealer.key() as Buffer));

  const keyring = new WebhookKeyring(keyringConfig(restored), undefined, () => [sealed.kid, sealed.kid]);
  const opening = t.throws(() => keyring.open('wh_1', sealed), { instanceOf: WebhookKeyFileMissingError });
  t.regex(
    opening?.message ?? '',
    new RegExp(`sealed with key ${sealed.kid}, and .*webhooks\\.key is missing`),
  );
  t.throws(() => keyring.seal('wh_2', 'another'), { instanceOf: WebhookKeyFileMissingError });
  t.is(keyring.key(), null);
  t.false(existsSync(join(restored, GENERATED_KEY_FILE)), 'no key generated that opens none of them');

  await copyFile(join(original, GENERATED_KEY_FILE), join(restored, GENERATED_KEY_FILE));
  t.is(keyring.open('wh_1', sealed), 'the secret');
  t.is(keyring.seal('wh_2', 'another').kid, sealed.kid, 'new secrets sealed with the restored key');
});

test('a data dir with nothing sealed generates its key on the first seal; without LMDB there is none to generate', async (t) => {
  const [dir] = await twoDataDirs(t);
  const keyring = new WebhookKeyring(keyringConfig(dir), undefined, () => []);
  const sealed = keyring.seal('wh_1', 's');
  t.is(keyring.open('wh_1', sealed), 's');
  const esdb = new WebhookKeyring({
    webhooks: {},
    store: { kind: 'eventstoredb' },
    storage: { data_dir: dir },
  } as unknown as Config);
  t.throws(() => esdb.seal('wh_1', 's'), { instanceOf: WebhookKeyMissingError });
  t.throws(() => esdb.open('wh_1', sealed), { instanceOf: WebhookKeyMissingError });
});
