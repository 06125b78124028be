import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { openEsdbEventStore } from '../../src/infra/eventstore/esdb/index.ts';
import type { EventStore } from '../../src/infra/eventstore/eventStore.ts';
import { StoreLease } from '../../src/infra/eventstore/lease.ts';
import { openLmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';
import { startEsdbDouble } from '../helpers/esdbDouble/esdbDouble.ts';

/**
 * The single-writer lease over the port, on both adapters: two contenders (two stores on one gRPC double,
 * i.e. two clients as two processes would have; one LMDB store shared, LMDB allowing one instance per
 * path per process). A monitor samples both every few ms and fails on any overlap.
 */
const TTL = 800;
const RENEW = 200;
const CHECK = 100;

interface Contenders {
  stores: [EventStore, EventStore];
  cleanup: () => Promise<void>;
}

const adapters: Record<string, () => Promise<Contenders>> = {
  lmdb: async () => {
    const path = await mkdtemp(join(tmpdir(), 'operator-lease-'));
    const store = await openLmdbEventStore({ path });
    return {
      stores: [store, store],
      cleanup: async () => {
        await store.close();
        await rm(path, { recursive: true, force: true });
      },
    };
  },
  'eventstoredb (gRPC double)': async () => {
    const double = await startEsdbDouble();
    const a = await openEsdbEventStore({ connectionString: double.connectionString });
    const b = await openEsdbEventStore({ connectionString: double.connectionString });
    return {
      stores: [a, b],
      cleanup: async () => {
        await a.close();
        await b.close();
        await double.stop();
      },
    };
  },
};

/** A store whose appends fail while `down` is set, as when this process loses the network. */
function cutOff(store: EventStore): { store: EventStore; down: boolean } {
  const handle = { down: false, store };
  handle.store = new Proxy(store, {
    get(target, key, receiver) {
      if (key === 'append' && handle.down)
        return () => Promise.reject(Object.assign(new Error('14 UNAVAILABLE: cut off'), { code: 14 }));
      const value = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return handle;
}

function monitor(leases: StoreLease[]): { overlaps: number; stop: () => void } {
  const m = { overlaps: 0, stop: () => clearInterval(timer) };
  const timer = setInterval(() => {
    if (leases.filter((l) => l.isHeld).length > 1) m.overlaps++;
  }, 3);
  return m;
}

async function waitFor(condition: () => boolean, ms: number): Promise<number> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > ms) throw new Error(`condition not met within ${ms} ms`);
    await sleep(5);
  }
  return Date.now() - started;
}

for (const [name, open] of Object.entries(adapters)) {
  const setup = async (t: import('ava').ExecutionContext) => {
    const { stores, cleanup } = await open();
    const handles = stores.map(cutOff);
    const leases = handles.map(
      (h, i) =>
        new StoreLease({
          store: h.store,
          holderId: `p${i}`,
          ttlMs: TTL,
          renewEveryMs: RENEW,
          checkEveryMs: CHECK,
        }),
    );
    const watch = monitor(leases);
    t.teardown(async () => {
      watch.stop();
      await Promise.all(leases.map((l) => l.stop({ release: false })));
      await cleanup();
    });
    for (const l of leases) l.start();
    await waitFor(() => leases.some((l) => l.isHeld), 3000);
    const holder = leases.findIndex((l) => l.isHeld);
    return { leases, handles, watch, holder, other: 1 - holder };
  };

  test.serial(`${name}: exactly one contender holds the lease, and keeps it while renewing`, async (t) => {
    const { leases, watch, holder } = await setup(t);
    await sleep(TTL * 2);
    t.true(leases[holder]?.isHeld);
    t.is(leases.filter((l) => l.isHeld).length, 1);
    t.is(watch.overlaps, 0);
  });

  test.serial(`${name}: a holder that stops renewing is replaced within the lease time`, async (t) => {
    const { leases, watch, holder, other } = await setup(t);
    const first = leases[holder]!.state;
    await leases[holder]!.stop({ release: false });
    const took = await waitFor(() => leases[other]!.isHeld, TTL * 3);
    t.true(took <= TTL + 2 * CHECK + 500, `taken over after ${took} ms`);
    const second = leases[other]!.state;
    t.true(first.held && second.held && second.token > first.token, 'the fencing token grows');
    t.is(watch.overlaps, 0);
  });

  test.serial(`${name}: a released lease is taken at the next check`, async (t) => {
    const { leases, watch, holder, other } = await setup(t);
    await leases[holder]!.stop();
    const took = await waitFor(() => leases[other]!.isHeld, TTL);
    t.true(took < TTL / 2, `taken after ${took} ms`);
    t.is(watch.overlaps, 0);
  });

  test.serial(`${name}: a holder cut off from the store steps down before anyone takes over`, async (t) => {
    const { leases, handles, watch, holder, other } = await setup(t);
    const lost: string[] = [];
    handles[holder]!.down = true;
    await waitFor(() => !leases[holder]!.isHeld, TTL);
    const state = leases[holder]!.state;
    if (!state.held) lost.push(state.reason);
    await waitFor(() => leases[other]!.isHeld, TTL * 3);
    t.deepEqual(lost, ['renew_failed']);
    t.is(watch.overlaps, 0);
    handles[holder]!.down = false;
    await sleep(TTL);
    t.false(leases[holder]!.isHeld, 'the cut-off process does not take the lease back');
    t.is(watch.overlaps, 0);
  });
}

// The end-to-end check — two operator processes, one double, only one runs the runner, stop it and the
// other takes over within the lease time with no stage run twice — waits for the server and runner to
// use this lease (see docs/decisions/0004-single-writer-lease.md).
