import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { openLmdbEventStore } from '../../../src/infra/eventstore/lmdb/index.ts';
import { advance, cliWorld, runCli, settle } from '../../helpers/cli.ts';
import { eventually, startHookReceiver } from '../../helpers/webhookFixtures.ts';

/** `operator store stats|backup` on the embedded store, with the server running and writing. */

test('store stats: events, streams, size on disk, used and free pages', async (t) => {
  const world = await cliWorld();
  t.teardown(() => world.cleanup());
  await world.start();
  for (const id of ['s1', 's2', 's3']) await advance(world, id, 'paused');
  const head = await world.server?.deps.store.headPosition();
  const res = await runCli(world.local('store', 'stats', '--json'));
  t.is(res.code, 0, res.stderr);
  const stats = JSON.parse(res.stdout);
  t.like(stats, { events: Number(head) + 1, head, streams: 3, deleted_streams: 0, page_size: 4096 });
  t.true(stats.size_bytes > 0 && stats.pages_used > 0 && stats.pages_free >= 0);
  t.is(stats.pages_used + stats.pages_free, stats.pages_total);
  const text = await runCli(world.local('store', 'stats'));
  t.regex(text.stdout, new RegExp(`^events\\s+${stats.events} \\(head position ${head}\\)$`, 'm'));
  t.regex(text.stdout, /^streams\s+3 \(0 deleted\)$/m);
  t.regex(text.stdout, /^pages\s+\d+ of 4096 bytes: \d+ used, \d+ free$/m);
  const none = await runCli(['store', 'stats', '--data-dir', join(world.dir, 'elsewhere')]);
  t.is(none.code, 1);
  t.regex(none.stderr, /^operator: no event store at .*elsewhere\/store \[no_store\]/);
});

test('store backup: a consistent compacted copy while the server appends; the copy opens as a store', async (t) => {
  const world = await cliWorld();
  t.teardown(() => world.cleanup());
  await world.start();
  for (let i = 0; i < 10; i++) await advance(world, `b${i}`, 'completed');
  let writing = true;
  const writer = (async () => {
    for (let n = 0; writing; n++) await advance(world, `b-live-${n}`, 'running');
  })();
  const target = join(world.dir, 'backup-1');
  const res = await runCli(world.local('store', 'backup', target, '--json'));
  writing = false;
  await writer;
  t.is(res.code, 0, res.stderr);
  const result = JSON.parse(res.stdout);
  t.is(result.path, target);
  t.true(result.events >= 10 * 12 && result.head === String(result.events - 1), JSON.stringify(result));

  // The copy is a store: every event up to its head is there, whole and in order, as in the original.
  await settle(world);
  const copy = await openLmdbEventStore({ path: target });
  const copied: string[] = [];
  for await (const e of copy.readAll()) copied.push(`${e.position} ${e.streamId} ${e.revision} ${e.id}`);
  await copy.close();
  const original: string[] = [];
  for await (const e of world.server?.deps.store.readAll({ maxCount: copied.length }) ?? [])
    original.push(`${e.position} ${e.streamId} ${e.revision} ${e.id}`);
  t.is(copied.length, result.events);
  t.deepEqual(copied, original);

  await mkdir(join(world.dir, 'full'));
  await writeFile(join(world.dir, 'full', 'something'), 'x');
  const refused = await runCli(world.local('store', 'backup', join(world.dir, 'full')));
  t.is(refused.code, 1);
  t.regex(refused.stderr, /is not empty; back up into a new directory/);

  // The copy holds every job's params: owner only, whatever the shell's umask.
  t.is((await stat(target)).mode & 0o777, 0o700);
  t.is((await stat(join(target, 'data.mdb'))).mode & 0o777, 0o600);
  // A file where the directory goes: one line, nothing made; no store: no directory left behind.
  await writeFile(join(world.dir, 'a-file'), 'x');
  const onFile = await runCli(world.local('store', 'backup', join(world.dir, 'a-file')));
  t.is(onFile.code, 1);
  t.regex(
    onFile.stderr,
    /^operator: .*a-file is a file; back up into a new directory \[bad_backup_target\]\n$/,
  );
  const noStore = await runCli([
    'store',
    'backup',
    join(world.dir, 'never'),
    '--data-dir',
    join(world.dir, 'nothing'),
  ]);
  t.is(noStore.code, 1);
  t.regex(noStore.stderr, /no event store at/);
  t.false(existsSync(join(world.dir, 'never')));
});

test('store backup: the target is made in an existing directory only; a parent that refuses (procfs) fails at once', async (t) => {
  const world = await cliWorld();
  t.teardown(() => world.cleanup());
  await world.start();
  await advance(world, 'p1', 'created');
  await world.stop();
  // Node's recursive mkdir retried ENOENT from procfs for ever: the command hung.
  const proc = await runCli(world.local('store', 'backup', '/proc/operator-backup'), { timeoutMs: 20_000 });
  t.is(proc.code, 1, proc.stderr);
  t.regex(
    proc.stderr,
    /^operator: cannot create the directory \/proc\/operator-backup \(ENOENT\) \[bad_backup_target\]\n$/,
  );
  const deep = join(world.dir, 'no', 'such', 'backup');
  const missing = await runCli(world.local('store', 'backup', deep));
  t.is(missing.code, 1);
  t.regex(
    missing.stderr,
    /^operator: .*\/no\/such does not exist or is not a directory: the backup goes into a new directory inside an existing one \[bad_backup_target\]\n$/,
  );
  t.false(existsSync(join(world.dir, 'no')), 'no tree grown from a typo');
});

test('store backup: the generated webhooks key is copied beside the store; a server on the restored data dir signs the API webhooks', async (t) => {
  const receiver = await startHookReceiver();
  t.teardown(() => receiver.close());
  const webhooks = { allow_targets: ['127.0.0.1/32'] };
  const world = await cliWorld({ webhooks });
  t.teardown(() => world.cleanup());
  await world.start();
  const registered = await world.api('/webhooks', { method: 'POST', json: { url: receiver.url } });
  t.is(registered.status, 201);
  await advance(world, 'before-backup', 'created');
  await eventually('a delivery before the backup', () =>
    receiver.received.some((r) => r.body.includes('before-backup')),
  );
  const target = join(world.dir, 'backup');
  const res = await runCli(world.local('store', 'backup', target, '--json'));
  t.is(res.code, 0, res.stderr);
  const keyFile = join(world.config.storage.data_dir, 'webhooks.key');
  t.like(JSON.parse(res.stdout), { path: target, webhooks_key: join(target, 'webhooks.key') });
  t.deepEqual(await readFile(join(target, 'webhooks.key')), await readFile(keyFile));
  t.is((await stat(join(target, 'webhooks.key'))).mode & 0o777, 0o600);
  const human = await runCli(world.local('store', 'backup', join(world.dir, 'backup-2')));
  t.regex(human.stdout, /^webhooks key copied to .*backup-2\/webhooks\.key: restore it into the data dir/m);
  const help = await runCli(['store', 'backup', '--help']);
  t.regex(help.stdout, /its webhooks\.key, if any, in <data_dir>\//);
  await world.stop();

  // Restored without the key file: no key is generated over the sealed secret; the log and a registration
  // say which key to bring back; nothing unsigned goes out.
  const keyless = await cliWorld({ webhooks });
  t.teardown(() => keyless.cleanup());
  const keylessDir = keyless.config.storage.data_dir;
  await mkdir(join(keylessDir, 'store'), { recursive: true });
  await copyFile(join(target, 'data.mdb'), join(keylessDir, 'store', 'data.mdb'));
  await keyless.start();
  const received = receiver.received.length;
  await advance(keyless, 'keyless', 'created');
  await eventually('the missing key said', () =>
    keyless.logLines.some((l) => l.includes('cannot open the endpoint secret')),
  );
  const said = keyless.logLines.find((l) => l.includes('cannot open the endpoint secret')) ?? '';
  t.regex(said, /sealed with key [0-9a-f]{16}, and .*webhooks\.key is missing: restore it from the backup/);
  const refused = await keyless.api('/webhooks', { method: 'POST', json: { url: receiver.url } });
  t.is(refused.status, 409);
  t.like(await refused.json(), { error: { code: 'webhook_key_missing' } });
  t.false(existsSync(join(keylessDir, 'webhooks.key')), 'no key generated that opens nothing');
  t.false(keyless.logLines.some((l) => l.includes('generated one')));
  t.is(receiver.received.length, received, 'nothing sent without the key');
  await keyless.stop();

  // Restored as the help says: data.mdb into <data_dir>/store/, webhooks.key into <data_dir>/.
  const restored = await cliWorld({ webhooks });
  t.teardown(() => restored.cleanup());
  const dataDir = restored.config.storage.data_dir;
  await mkdir(join(dataDir, 'store'), { recursive: true });
  await copyFile(join(target, 'data.mdb'), join(dataDir, 'store', 'data.mdb'));
  await copyFile(join(target, 'webhooks.key'), join(dataDir, 'webhooks.key'));
  await restored.start();
  await advance(restored, 'after-restore', 'created');
  await eventually('a delivery from the restored data dir', () =>
    receiver.received.some((r) => r.body.includes('after-restore')),
  );
  t.false(restored.logLines.some((l) => l.includes('cannot open the endpoint secret')));
  t.false(restored.logLines.some((l) => l.includes('generated one')));
});
