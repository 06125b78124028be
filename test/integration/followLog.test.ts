import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import type {
  EventStore,
  RecordedEvent,
  SubscribeToAllOptions,
  Subscription,
  SubscriptionItem,
} from '../../src/infra/eventstore/eventStore.ts';
import type { LogBatch } from '../../src/infra/eventstore/followLog.ts';
import { followLog, followStream } from '../../src/infra/eventstore/followLog.ts';
import { type LmdbEventStore, openLmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';

async function openTemp(t: ExecutionContext, batchSize?: number): Promise<LmdbEventStore> {
  const path = await mkdtemp(join(tmpdir(), 'operator-follow-log-'));
  const store = await openLmdbEventStore({ path, ...(batchSize === undefined ? {} : { batchSize }) });
  t.teardown(async () => {
    await store.close();
    await rm(path, { recursive: true, force: true });
  });
  return store;
}

async function append(store: EventStore, stream: string, count: number): Promise<string[]> {
  const positions: string[] = [];
  for (let i = 0; i < count; i++) {
    const { position } = await store.append(stream, [{ id: randomUUID(), type: 'e', data: { i } }]);
    positions.push(position);
  }
  return positions;
}

/** Pulls batches until `until` says enough; the iteration stays open for the caller. */
async function pull<T>(
  batches: AsyncIterator<LogBatch<T>>,
  until: (seen: LogBatch<T>[]) => boolean,
): Promise<LogBatch<T>[]> {
  const seen: LogBatch<T>[] = [];
  while (!until(seen)) {
    const next = await batches.next();
    if (next.done) break;
    seen.push(next.value);
  }
  return seen;
}

const positionsOf = (batches: LogBatch[]) => batches.flatMap((b) => b.events.map((e) => e.position));
const caughtUp = (batches: LogBatch<unknown>[]) => batches.some((b) => b.caughtUp !== undefined);

test('from a position: the later events of the filtered streams, then the end of the log', async (t) => {
  const store = await openTemp(t);
  const jobs = await append(store, 'job-a', 5);
  await append(store, 'other-x', 3);
  const more = await append(store, 'job-b', 4);
  const abort = new AbortController();
  const batches = followLog(store, {
    from: jobs[1] as string,
    filter: { streamNamePrefix: ['job-'] },
    signal: abort.signal,
  });
  const seen = await pull(batches, caughtUp);
  t.deepEqual(positionsOf(seen), [...jobs.slice(2), ...more]);
  t.deepEqual(seen.at(-1)?.caughtUp, { position: more.at(-1) as string });
  t.is(seen.at(-1)?.last ?? seen.at(-2)?.last, more.at(-1) as string);
  abort.abort();
  t.true((await batches.next()).done);
});

test('goes live after catching up: appends arrive in order, in batches no larger than maxBatch', async (t) => {
  const store = await openTemp(t, 7);
  const history = await append(store, 'job-a', 30);
  const abort = new AbortController();
  const batches = followLog(store, { signal: abort.signal, maxBatch: 10 });
  const before = await pull(batches, caughtUp);
  t.deepEqual(positionsOf(before), history);
  const live = store.append(
    'job-b',
    Array.from({ length: 25 }, () => ({ id: randomUUID(), type: 'e', data: {} })),
  );
  const after = await pull(batches, (seen) => positionsOf(seen).length >= 25);
  const { position } = await live;
  t.is(positionsOf(after).at(-1), position);
  t.deepEqual(
    positionsOf(after),
    Array.from({ length: 25 }, (_, i) => String(Number(position) - 24 + i)),
  );
  t.true([...before, ...after].every((b) => b.events.length <= 10));
  t.false(caughtUp(after));
  abort.abort();
  await batches.return();
});

test("decode shapes the events, skips what it declines, and a batch's last counts the skipped", async (t) => {
  const store = await openTemp(t);
  const positions = await append(store, 'job-a', 6);
  const abort = new AbortController();
  const batches = followLog(store, {
    signal: abort.signal,
    decode: (e) => ((e.data['i'] as number) % 2 === 0 ? (e.data['i'] as number) : undefined),
  });
  const seen = await pull(batches, caughtUp);
  t.deepEqual(
    seen.flatMap((b) => b.events),
    [0, 2, 4],
  );
  t.is(seen.filter((b) => b.last !== null).at(-1)?.last, positions.at(-1) as string);
  abort.abort();
  await batches.return();
});

/** The real store, but its first `$all` subscription fails after `failAfter` events. */
class FailingOnce implements Pick<EventStore, 'subscribeToAll'> {
  readonly opened: (string | undefined)[] = [];
  closed = 0;

  constructor(
    private readonly store: EventStore,
    private readonly failAfter: number,
  ) {}

  subscribeToAll(options: SubscribeToAllOptions = {}): Subscription {
    this.opened.push(options.fromPosition);
    const inner = this.store.subscribeToAll(options);
    const fail = this.opened.length === 1 ? this.failAfter : Number.POSITIVE_INFINITY;
    const self = this;
    async function* items(): AsyncGenerator<SubscriptionItem> {
      let n = 0;
      for await (const item of inner) {
        if (item.kind === 'event' && n++ === fail) throw new Error('disk read failed');
        yield item;
      }
    }
    const iterator = items();
    return {
      [Symbol.asyncIterator]: () => iterator,
      async close() {
        self.closed++;
        await inner.close();
        await iterator.return(undefined);
      },
    };
  }
}

test('a store error reopens after the last event read, after the backoff: no gap, no duplicate', async (t) => {
  const store = await openTemp(t, 4);
  const positions = await append(store, 'job-a', 12);
  const failing = new FailingOnce(store, 5);
  const errors: { message: string; retryInMs: number }[] = [];
  const abort = new AbortController();
  const started = Date.now();
  const batches = followLog(failing as unknown as EventStore, {
    signal: abort.signal,
    backoff: { minMs: 60, maxMs: 1000 },
    onError: (error, retryInMs) => errors.push({ message: (error as Error).message, retryInMs }),
  });
  const seen = await pull(batches, caughtUp);
  t.deepEqual(positionsOf(seen), positions);
  t.deepEqual(errors, [{ message: 'disk read failed', retryInMs: 60 }]);
  t.deepEqual(failing.opened, ['start', positions[4]]);
  t.true(Date.now() - started >= 55, 'the reopening waited for the backoff');
  abort.abort();
  await batches.return();
});

test('an event decode cannot read is retried with doubling waits, not skipped', async (t) => {
  const store = await openTemp(t);
  const positions = await append(store, 'job-a', 3);
  let refusals = 2;
  const retries: number[] = [];
  const abort = new AbortController();
  const batches = followLog(store, {
    signal: abort.signal,
    backoff: { minMs: 5, maxMs: 100 },
    decode: (e: RecordedEvent) => {
      if (e.position === positions[1] && refusals-- > 0) throw new Error('unreadable');
      return e.position;
    },
    onError: (_error, retryInMs) => retries.push(retryInMs),
  });
  const seen = await pull(batches, caughtUp);
  t.deepEqual(
    seen.flatMap((b) => b.events),
    positions,
  );
  t.deepEqual(retries, [5, 10]);
  abort.abort();
  await batches.return();
});

test('abort ends a follow waiting for live events, and closes its subscription', async (t) => {
  const store = await openTemp(t);
  await append(store, 'job-a', 2);
  const failing = new FailingOnce(store, Number.POSITIVE_INFINITY);
  const abort = new AbortController();
  const batches = followLog(failing as unknown as EventStore, { signal: abort.signal });
  await pull(batches, caughtUp);
  const waiting = batches.next();
  setTimeout(() => abort.abort(), 20);
  t.true((await waiting).done);
  t.true(failing.closed >= 1);
  t.deepEqual(failing.opened, ['start']);
});

test('an already aborted signal yields nothing', async (t) => {
  const store = await openTemp(t);
  await append(store, 'job-a', 2);
  const batches = followLog(store, { signal: AbortSignal.abort() });
  t.true((await batches.next()).done);
});

test('followStream follows one stream from a revision', async (t) => {
  const store = await openTemp(t);
  await append(store, 'job-a', 4);
  const b = await append(store, 'job-b', 3);
  const abort = new AbortController();
  const batches = followStream(store, 'job-b', { from: 0, signal: abort.signal });
  const seen = await pull(batches, caughtUp);
  t.deepEqual(positionsOf(seen), b.slice(1));
  const [live] = await append(store, 'job-b', 1);
  await append(store, 'job-a', 1);
  const after = await pull(batches, (s) => positionsOf(s).length >= 1);
  t.deepEqual(positionsOf(after), [live as string]);
  t.deepEqual(
    after.flatMap((x) => x.events.map((e) => e.revision)),
    [3],
  );
  abort.abort();
  await batches.return();
});

test('leaving a for-await loop ends the follow and closes its subscription', async (t) => {
  const store = await openTemp(t);
  await append(store, 'job-a', 3);
  const failing = new FailingOnce(store, Number.POSITIVE_INFINITY);
  const never = new AbortController();
  let seen = 0;
  for await (const batch of followLog(failing as unknown as EventStore, { signal: never.signal })) {
    seen += batch.events.length;
    if (batch.caughtUp) break;
  }
  t.is(seen, 3);
  t.true(failing.closed >= 1);
  t.false(never.signal.aborted);
});
