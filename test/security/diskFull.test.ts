import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test from 'ava';
import type { EventStore } from '../../src/infra/eventstore/eventStore.ts';
import { openLmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';
import { freeBytes } from '../../src/infra/files/freeSpace.ts';
import { createLogger } from '../../src/infra/logging/logger.ts';
import { startServer } from '../../src/server/startServer.ts';
import { runCli } from '../helpers/cli.ts';
import { JobTraffic, plan } from '../helpers/jobTraffic.ts';
import { waitFor } from '../helpers/runnerHarness.ts';
import { type ServeChild, serveChild } from '../helpers/serveChild.ts';
import { startTestServer, TOKENS, testConfig } from '../helpers/testServer.ts';

/**
 * Door: the disk. A store that refuses writes for want of space makes commands answer 507 with the error
 * shape (never a 500, nothing half-written), and `/readyz` leaves the rotation (503, `disk: low`) once free
 * space falls under `storage.min_free_bytes`. The last test fills a real filesystem under a real server.
 */

const full = {
  ENOSPC: () => Object.assign(new Error('No space left on device'), { code: 28 }), // as lmdb-js throws it
  ENOSPC_fs: () =>
    Object.assign(new Error("ENOSPC: no space left on device, write '/data/store'"), { code: 'ENOSPC' }),
  MDB_MAP_FULL: () =>
    Object.assign(new Error('MDB_MAP_FULL: Environment mapsize limit reached'), { code: -30792 }),
};

/** The real LMDB store, whose `append` throws `refuse()`'s error while it is set. */
function fillableStore(store: EventStore): {
  store: EventStore;
  refuse: (make: (() => Error) | null) => void;
} {
  let refusal: (() => Error) | null = null;
  const proxy = new Proxy(store, {
    get(target, prop) {
      if (prop === 'append' && refusal) {
        const make = refusal;
        return async () => {
          throw make();
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: proxy, refuse: (make) => (refusal = make) };
}

test('disk full: commands answer 507 insufficient_storage with the error shape while the store refuses writes', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'operator-full-'));
  const config = testConfig(dir);
  const lines: string[] = [];
  const logger = createLogger({
    level: 'info',
    destination: new Writable({
      write(chunk, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    }),
  });
  const lmdb = await openLmdbEventStore({ path: join(config.storage.data_dir, 'store') });
  const { store, refuse } = fillableStore(lmdb);
  const server = await startServer({ config, logger, store, runner: false });
  t.teardown(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const api = (path: string, body: unknown) =>
    fetch(`${server.url}/api/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.operator}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const made = await api('/jobs', { id: 'j_before', params: {} });
  t.is(made.status, 201);

  for (const [kind, make] of Object.entries(full)) {
    refuse(make);
    for (const [path, body] of [
      ['/jobs', { params: { n: 1 } }],
      ['/jobs/j_before/cancel', {}],
    ] as const) {
      const res = await api(path, body);
      const answer = (await res.json()) as { error: { code: string; message: string } };
      t.is(res.status, 507, `${kind} ${path}`);
      t.is(answer.error.code, 'insufficient_storage');
      t.regex(answer.error.message, /out of storage space/);
    }
  }
  refuse(null);
  t.is((await api('/jobs', { params: { n: 2 } })).status, 201, 'writes work again once space is back');
  const records = lines.map((l) => JSON.parse(l) as { level: number; msg: string });
  t.false(
    records.some((r) => r.msg === 'request failed'),
    'a full disk is not logged as a server fault',
  );
  t.is(records.filter((r) => r.msg === 'storage full').length, 6, 'one warn line per refused request');
});

test('disk full: /readyz is 503 with disk low under storage.min_free_bytes, and ready with disk ok above it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'operator-floor-'));
  const free = (await freeBytes(dir)) as number;
  t.true(free > 0);
  const storage = (min_free_bytes: number) => ({
    storage: { data_dir: join(dir, 'data'), runs_dir: join(dir, 'runs'), min_free_bytes },
  });

  const low = await startTestServer(storage(free * 2 + 1024 ** 3), { dir });
  const lowRes = await fetch(`${low.url}/api/v1/readyz`);
  const lowBody = (await lowRes.json()) as {
    error: {
      code: string;
      message: string;
      details: { disk: string; free_bytes: number; min_free_bytes: number };
    };
  };
  await low.close();
  t.is(lowRes.status, 503);
  t.is(lowBody.error.code, 'not_ready');
  t.is(lowBody.error.details.disk, 'low');
  t.true(lowBody.error.details.free_bytes < lowBody.error.details.min_free_bytes);
  t.regex(lowBody.error.message, /storage\.min_free_bytes/);

  const ok = await startTestServer(storage(1024), { dir });
  const okRes = await fetch(`${ok.url}/api/v1/readyz`);
  const okBody = (await okRes.json()) as { status: string; disk: string; disk_free_bytes: number };
  await ok.stop();
  t.is(okRes.status, 200);
  t.is(okBody.status, 'ready');
  t.is(okBody.disk, 'ok');
  t.true(okBody.disk_free_bytes > 1024);
});

/** Mounts a `size` tmpfs at `dir`; a refusal fails the test with mount's own words (the tests run as root). */
function mountTmpfs(dir: string, size: string): void {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`cannot mount a tmpfs at ${dir} (the test needs root): ${stderr || String(error)}`);
  }
}

/** Writes zeros to `path` until the filesystem refuses (ENOSPC); the bytes written. */
async function fill(path: string): Promise<number> {
  const file = await open(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  let written = 0;
  try {
    for (;;) written += (await file.write(chunk)).bytesWritten;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    await file.close();
  }
  return written;
}

const alive = (server: ServeChild) => server.child.exitCode === null && server.child.signalCode === null;

test('disk full on a real filesystem: 507 with the error shape, the server stays up and says disk low, and writes resume once space is freed', async (t) => {
  const home = await mkdtemp(join(tmpdir(), 'operator-tmpfs-'));
  const mnt = join(home, 'mnt');
  await mkdir(mnt);
  mountTmpfs(mnt, '32m');
  let server: ServeChild | undefined;
  t.teardown(async () => {
    if (server && alive(server)) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    execFileSync('umount', ['-l', mnt]);
    await rm(home, { recursive: true, force: true });
  });
  const config = join(home, 'operator.yaml');
  await writeFile(
    config,
    [
      'server: {port: 0, host: 127.0.0.1, log_level: info}',
      `storage: {data_dir: ${join(mnt, 'data')}, runs_dir: ${join(mnt, 'runs')}, min_free_bytes: 1048576}`,
      // Renewed every ~330 ms: the data dir lease writes to the full disk too while the test waits.
      'store: {lease_ttl: 1s}',
      'pipelines: {external: {stages: [{name: ingest}, {name: publish}]}}',
    ].join('\n'),
  );
  server = await serveChild(config);
  const s = server;
  const create = (id: string, padBytes = 0) =>
    s.api('/jobs', {
      method: 'POST',
      json: { pipeline: 'external', id, params: padBytes ? { pad: 'x'.repeat(padBytes) } : {} },
    });
  t.is((await create('before')).status, 201);

  t.true((await fill(join(mnt, 'filler'))) > 0);
  // A 48 KiB event needs new pages at the end of the store's file: the full filesystem refuses them.
  const refused = await create('during', 48 * 1024);
  const body = (await refused.json()) as { error: { code: string; message: string } };
  t.is(refused.status, 507, JSON.stringify(body));
  t.deepEqual(Object.keys(body), ['error']);
  t.is(body.error.code, 'insufficient_storage');
  t.regex(body.error.message, /out of storage space/);
  t.is((await create('during-again', 48 * 1024)).status, 507, 'a retry is refused the same way');

  const ready = await s.api('/readyz');
  const readyBody = (await ready.json()) as { error: { details: { disk: string } } };
  t.is(ready.status, 503);
  t.is(readyBody.error.details.disk, 'low');
  // Projections, the runner and the lease renewals keep writing to the full disk meanwhile.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  t.true(alive(s), `the server died on the full disk:\n${s.output().slice(-3000)}`);
  t.is((await s.api('/healthz')).status, 200);

  await rm(join(mnt, 'filler'));
  t.is((await create('after', 48 * 1024)).status, 201, 'appends resume once space is freed');
  t.is((await s.api('/jobs/during')).status, 404, 'nothing of a refused append was written');
  await waitFor('ready again', async () => (await s.api('/readyz')).status === 200, 10_000);
  t.is(((await (await s.api('/jobs/after')).json()) as { job_id: string }).job_id, 'after');
  t.true(alive(s));
  t.notRegex(s.output(), /unhandled promise rejection|"msg":"request failed"/);
});

test('disk full during a rebuild: one line that says so, exit 1, the live projections untouched', async (t) => {
  const home = await mkdtemp(join(tmpdir(), 'operator-tmpfs-'));
  const mnt = join(home, 'mnt');
  await mkdir(mnt);
  mountTmpfs(mnt, '24m');
  t.teardown(async () => {
    execFileSync('umount', ['-l', mnt]);
    await rm(home, { recursive: true, force: true });
  });
  const config = join(home, 'operator.yaml');
  await writeFile(
    config,
    // The runs dir elsewhere: the read model's LMDB env is what meets the full disk.
    `server: {port: 0, host: 127.0.0.1}\nstorage: {data_dir: ${join(mnt, 'data')}, runs_dir: ${join(home, 'runs')}}\n`,
  );
  const store = await openLmdbEventStore({ path: join(mnt, 'data', 'store') });
  const traffic = new JobTraffic(store);
  for (let i = 0; i < 150; i++)
    for (const step of plan(`full${i}`, 'completed')) await traffic.run(`full${i}`, step);
  await store.close();
  // Room for the rebuild to start, not for its read model: a commit fails part-way.
  const filler = join(mnt, 'filler');
  await fill(filler);
  await truncate(filler, (await stat(filler)).size - 1024 * 1024);

  const res = await runCli(['projections', 'rebuild', '--all', '--config', config]);
  t.is(res.code, 1, res.stderr);
  const said = res.stderr.split('\n').filter((l) => l.startsWith('operator: '));
  t.is(said.length, 1, res.stderr);
  t.regex(said[0] ?? '', /^operator: the server is out of storage space.*\[insufficient_storage\]$/);
  t.false(res.stderr.includes('unexpected error'), res.stderr);
  t.false(existsSync(join(home, 'runs', 'full0')), 'nothing swapped in');
});
