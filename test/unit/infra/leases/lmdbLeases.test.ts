import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { RootDatabase } from 'lmdb';
import { open } from 'lmdb';
import type { LeaseHolder } from '../../../../src/infra/leases/lmdbLeases.ts';
import { isLeaseLive, LmdbLeases, newLeaseHolder } from '../../../../src/infra/leases/lmdbLeases.ts';

interface World {
  env: RootDatabase;
  leases: LmdbLeases;
  /** The clock the leases read. */
  clock: { now: number };
}

/** A real LMDB file in a temp dir; the leases in a string-encoded database, as the stores keep them. */
async function world(t: { teardown(fn: () => Promise<void>): void }): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), 'operator-leases-'));
  const env = open({ path: dir, maxDbs: 4 });
  t.teardown(async () => {
    await env.close();
    await rm(dir, { recursive: true, force: true });
  });
  const clock = { now: 1_000_000 };
  const leases = new LmdbLeases(
    env.openDB<string, string>('leases', { encoding: 'string' }),
    () => clock.now,
  );
  return { env, leases, clock };
}

/** A holder on this host whose process has exited: what a `kill -9` leaves behind. */
function goneHolder(): LeaseHolder {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return { owner: 'gone', role: 'serve', pid: Number(child.stdout.toString()), host: hostname() };
}

test('take: a free lease is taken and recorded with its holder, acquisition time and expiry', async (t) => {
  const { leases, clock } = await world(t);
  const me = newLeaseHolder('serve');
  t.is(leases.read('writer'), undefined);
  t.true(leases.tryAcquire('writer', me, 1000));
  t.deepEqual(leases.read('writer'), {
    ...me,
    acquired_at: new Date(clock.now).toISOString(),
    expires_at: clock.now + 1000,
  });
});

test('renew: the holder extends its lease and keeps its acquisition time; anyone else cannot', async (t) => {
  const { leases, clock } = await world(t);
  const [me, other] = [newLeaseHolder('serve'), newLeaseHolder('serve')];
  t.true(leases.tryAcquire('writer', me, 1000));
  const acquired = leases.read('writer')?.acquired_at;
  clock.now += 600;
  t.true(leases.renew('writer', me, 1000));
  t.like(leases.read('writer'), { owner: me.owner, acquired_at: acquired, expires_at: clock.now + 1000 });
  t.false(leases.renew('writer', other, 1000));
  t.is(leases.read('writer')?.owner, me.owner);
  clock.now += 600;
  t.true(leases.tryAcquire('writer', me, 1000), 'taking it again is renewing it');
  t.is(leases.read('writer')?.acquired_at, acquired);
});

test('a live lease is refused to anyone else, until it expires', async (t) => {
  const { leases, clock } = await world(t);
  const [me, other] = [newLeaseHolder('serve'), newLeaseHolder('rebuild')];
  t.true(leases.tryAcquire('writer', me, 1000));
  t.false(leases.tryAcquire('writer', other, 1000));
  t.is(leases.heldByOther('writer', other)?.owner, me.owner);
  t.is(leases.heldByOther('writer', me), undefined, 'not held by another for its holder');
  clock.now += 999;
  t.false(leases.tryAcquire('writer', other, 1000), 'one ms before it expires');
  t.is(leases.read('writer')?.owner, me.owner);
});

test('an expired lease is taken over', async (t) => {
  const { leases, clock } = await world(t);
  const [me, other] = [newLeaseHolder('serve'), newLeaseHolder('rebuild')];
  t.true(leases.tryAcquire('writer', me, 1000));
  clock.now += 1000;
  t.false(leases.isLive(leases.read('writer') as never));
  t.true(leases.tryAcquire('writer', other, 1000));
  t.like(leases.read('writer'), { owner: other.owner, role: 'rebuild', expires_at: clock.now + 1000 });
  t.false(leases.renew('writer', me, 1000), 'the old holder learns it lost the lease');
});

test('a lease whose holder process is gone (same host) is taken over before it expires', async (t) => {
  const { leases } = await world(t);
  const gone = goneHolder();
  t.true(leases.tryAcquire('writer', gone, 60_000));
  const me = newLeaseHolder('serve');
  t.true(leases.tryAcquire('writer', me, 1000));
  t.is(leases.read('writer')?.owner, me.owner);
});

test("another host's holder cannot be probed: its lease is refused until it expires", async (t) => {
  const { leases, clock } = await world(t);
  const far = { ...goneHolder(), owner: 'far', host: 'elsewhere' };
  t.true(leases.tryAcquire('writer', far, 1000));
  const me = newLeaseHolder('serve');
  t.false(leases.tryAcquire('writer', me, 1000));
  clock.now += 1000;
  t.true(leases.tryAcquire('writer', me, 1000));
});

test('release frees the lease for its holder only', async (t) => {
  const { leases } = await world(t);
  const [me, other] = [newLeaseHolder('serve'), newLeaseHolder('serve')];
  t.true(leases.tryAcquire('writer', me, 1000));
  leases.release('writer', other);
  t.is(leases.read('writer')?.owner, me.owner);
  leases.release('writer', me);
  t.is(leases.read('writer'), undefined);
  t.true(leases.tryAcquire('writer', other, 1000));
});

test('handover: a request survives renewals, the holder grants it; a withdrawn request is gone', async (t) => {
  const { leases, clock } = await world(t);
  const [server, rebuild] = [newLeaseHolder('serve'), newLeaseHolder('rebuild')];
  t.true(leases.tryAcquire('writer', server, 1000));
  t.is(leases.grant('writer', server, 1000), undefined, 'nobody asked');
  leases.request('writer', rebuild);
  leases.withdraw('writer', rebuild);
  t.is(leases.read('writer')?.requested_by, undefined);
  leases.request('writer', rebuild);
  t.true(leases.renew('writer', server, 1000));
  t.is(leases.read('writer')?.requested_by?.owner, rebuild.owner);
  t.is(leases.grant('writer', rebuild, 1000), undefined, 'only the holder grants');
  clock.now += 10;
  t.is(leases.grant('writer', server, 2000)?.owner, rebuild.owner);
  t.like(leases.read('writer'), {
    owner: rebuild.owner,
    acquired_at: new Date(clock.now).toISOString(),
    expires_at: clock.now + 2000,
  });
  t.is(leases.read('writer')?.requested_by, undefined);
});

test('records of earlier versions read back: a json-encoded database, and a sender lease without role or acquisition time', async (t) => {
  const { env, clock } = await world(t);
  const json = env.openDB<Record<string, unknown>, string>('old', { encoding: 'json' });
  const holder = newLeaseHolder('serve');
  await json.put('writer', { ...holder, acquired_at: 'then', expires_at: clock.now + 1000 });
  await json.put('sender_lease', {
    owner: 'old',
    pid: process.pid,
    host: hostname(),
    expires_at: clock.now + 1000,
  });
  await json.put('garbage', { owner: 7 });
  const leases = new LmdbLeases(env.openDB<string, string>('old', { encoding: 'string' }), () => clock.now);
  t.deepEqual(leases.read('writer'), { ...holder, acquired_at: 'then', expires_at: clock.now + 1000 });
  t.deepEqual(leases.read('sender_lease'), {
    owner: 'old',
    role: 'unknown',
    pid: process.pid,
    host: hostname(),
    acquired_at: '',
    expires_at: clock.now + 1000,
  });
  t.false(leases.tryAcquire('sender_lease', newLeaseHolder('sender'), 1000), 'a live old record is honoured');
  t.is(leases.read('garbage'), undefined, 'an unreadable record is no lease');
  t.true(leases.tryAcquire('garbage', holder, 1000));
  const me = newLeaseHolder('serve');
  t.true(leases.tryAcquire('fresh', me, 1000));
  t.like(
    json.get('fresh'),
    { owner: me.owner },
    'what is written reads back through a json-encoded database',
  );
});

test("the liveness rule: expired, or held by a gone process of this host; another host's holder is trusted", (t) => {
  const now = 1_000_000;
  t.true(isLeaseLive({ pid: process.pid, host: hostname(), expires_at: now + 1 }, now));
  t.false(isLeaseLive({ pid: process.pid, host: hostname(), expires_at: now }, now), 'expired');
  t.false(
    isLeaseLive({ pid: 2 ** 22 + 12345, host: hostname(), expires_at: now + 1 }, now),
    'no such process',
  );
  t.true(isLeaseLive({ pid: 2 ** 22 + 12345, host: 'elsewhere', expires_at: now + 1 }, now));
  t.true(
    isLeaseLive({ pid: 2 ** 22 + 12345, expires_at: now + 1 }, now),
    'no host recorded: not ours to probe',
  );
});

test('the liveness rule: a holder killed with -9 that nobody has reaped yet (a zombie) holds nothing', async (t) => {
  // A holder whose parent never reaps it: a shell starts it, then becomes `sleep`, which waits for nobody.
  const { spawn } = await import('node:child_process');
  const { readFileSync } = await import('node:fs');
  const parent = spawn('/bin/sh', ['-c', 'sleep 1000 & echo $!; exec sleep 30'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  t.teardown(() => parent.kill('SIGKILL'));
  const pid = await new Promise<number>((resolve) =>
    parent.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))),
  );
  const now = Date.now();
  t.true(isLeaseLive({ pid, host: hostname(), expires_at: now + 60_000 }, now), 'running: live');
  process.kill(pid, 'SIGKILL');
  const state = () => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  };
  for (let i = 0; i < 100 && state() !== 'Z'; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.is(state(), 'Z', 'killed, not reaped');
  t.false(isLeaseLive({ pid, host: hostname(), expires_at: now + 60_000 }, now), 'a zombie holds nothing');
});
