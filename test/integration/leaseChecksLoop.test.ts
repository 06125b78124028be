import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import { openLmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';
import { WRITER_LEASE } from '../../src/infra/leases/projectionLeases.ts';
import { createProjections } from '../../src/projections/createProjections.ts';
import { SenderLeaseKeeper } from '../../src/webhooks/senderLeaseKeeper.ts';
import { SENDER_LEASE, WebhookStore } from '../../src/webhooks/webhookStore.ts';

/**
 * A serving process checks and renews its leases (the projection writer lease in the read model env, the
 * webhook sender lease in the webhook env) every third of their time. Its event loop must not stop for
 * those checks: neither to wait for the env's write lock, which LMDB's write thread holds through each
 * commit and its sync (another process here holds it for longer), nor to make the sync itself.
 */

const TTL_MS = 300;
const HOLD_MS = 1_500;
/**
 * The longest stop of the event loop allowed while the lock is held: a synchronous check stops it for most
 * of `HOLD_MS` (about 1.4 s); a busy machine's pauses stay well under this.
 */
const MAX_GAP_MS = 600;

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'operator-lease-loop-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Another process takes the write lock of the LMDB env at `path` and keeps it `ms`. */
async function holdWriteLock(path: string, ms: number): Promise<{ released: Promise<number | null> }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const { open } = require('lmdb');
       const env = open({ path: process.argv[1] });
       env.transactionSync(() => {
         require('node:fs').writeSync(1, 'locked\\n');
         // Blocks this thread without using a core (a busy loop would slow the tiers running beside it).
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.argv[2]));
       });
       env.close();`,
      path,
      String(ms),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const released = new Promise<number | null>((resolve) => child.on('exit', resolve));
  for await (const line of createInterface({ input: child.stdout })) if (line === 'locked') break;
  return { released };
}

/** The longest gap between the ticks of a 10 ms interval over `ms`. */
async function longestLoopGap(ms: number): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 10);
  await new Promise((resolve) => setTimeout(resolve, ms));
  clearInterval(timer);
  return Math.max(longest, performance.now() - last);
}

async function eventually(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('the projection writer lease is renewed without stopping the event loop while another process holds the read model env write lock', async (t) => {
  const dir = await tempDir(t);
  const store = await openLmdbEventStore({ path: join(dir, 'store') });
  const dataDir = join(dir, 'data');
  const projections = createProjections({
    store,
    dataDir,
    runsDir: join(dir, 'runs'),
    leaseTtlMs: TTL_MS,
    checkIntervalMs: 20,
  });
  t.teardown(async () => {
    await projections.close();
    await store.close();
  });
  projections.start();
  const leases = () =>
    projections.readModelStore.env.openDB<string, string>('projection_leases', { encoding: 'string' });
  const expiresAt = () => JSON.parse(leases().get(WRITER_LEASE) ?? '{}').expires_at as number;
  await eventually('the writer lease', () => expiresAt() > Date.now());

  const lock = await holdWriteLock(join(dataDir, 'readmodel'), HOLD_MS);
  const gap = await longestLoopGap(HOLD_MS - 500);
  t.is(await lock.released, 0);
  t.true(gap < MAX_GAP_MS, `the event loop stopped for ${gap.toFixed(0)} ms`);
  // Renewed once the lock is free: still this process's, live again.
  const after = Date.now();
  await eventually('the renewal after the lock', () => expiresAt() > after);
});

test('the webhook sender lease is checked without stopping the event loop while another process holds the webhook env write lock', async (t) => {
  const dir = await tempDir(t);
  const webhooks = WebhookStore.open(dir);
  let gained = 0;
  const keeper = new SenderLeaseKeeper({
    leases: webhooks.leases,
    ttlMs: TTL_MS,
    onGained: () => {
      gained++;
    },
    onLost: async () => {},
  });
  t.teardown(async () => {
    await keeper.stop();
    keeper.release();
    await webhooks.close();
  });
  await keeper.start();
  t.true(keeper.holding);

  const lock = await holdWriteLock(join(dir, 'webhooks'), HOLD_MS);
  const gap = await longestLoopGap(HOLD_MS - 500);
  t.is(await lock.released, 0);
  t.true(gap < MAX_GAP_MS, `the event loop stopped for ${gap.toFixed(0)} ms`);
  const after = Date.now();
  await eventually(
    'the check after the lock',
    () => (webhooks.leases.read(SENDER_LEASE)?.expires_at ?? 0) > after,
  );
  t.true(keeper.holding);
  t.is(gained, 1, 'held throughout: gained once');
});
