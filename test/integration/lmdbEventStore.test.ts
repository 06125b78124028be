import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import type { EventData, RecordedEvent, SubscriptionItem } from '../../src/infra/eventstore/eventStore.ts';
import {
  type LmdbEventStore,
  type OpenLmdbEventStoreOptions,
  openLmdbEventStore,
} from '../../src/infra/eventstore/lmdb/index.ts';
import { headInWrite } from '../../src/infra/eventstore/lmdb/lmdbAppend.ts';
import { openLmdbLayout } from '../../src/infra/eventstore/lmdb/lmdbLayout.ts';
import {
  InvalidEventStoreArgumentError,
  isEventStoreClosedError,
} from '../../src/infra/eventstore/storeErrors.ts';

const appendLoop = fileURLToPath(new URL('./fixtures/lmdbAppendLoop.ts', import.meta.url));

const event = (data: Record<string, unknown> = {}): EventData => ({ id: randomUUID(), type: 'e', data });

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

async function tempDir(t: ExecutionContext): Promise<string> {
  const path = await mkdtemp(join(tmpdir(), 'operator-lmdb-int-'));
  t.teardown(() => rm(path, { recursive: true, force: true }));
  return path;
}

async function openTemp(
  t: ExecutionContext,
  options: Omit<OpenLmdbEventStoreOptions, 'path'> = {},
): Promise<LmdbEventStore> {
  const store = await openLmdbEventStore({ path: await tempDir(t), ...options });
  t.teardown(() => store.close());
  return store;
}

interface Ack {
  stream: string;
  revision: number;
  position: string;
  count: number;
}

/** Starts the append loop in a child process; `acks` fills as it prints acknowledged appends. */
function startWriter(
  t: ExecutionContext,
  path: string,
  writers: number,
): { child: ChildProcess; acks: Ack[]; ready: Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', appendLoop, path, String(writers)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const acks: Ack[] = [];
  let ready: () => void = () => {};
  const readyPromise = new Promise<void>((resolve, reject) => {
    ready = resolve;
    child.once('exit', (code) => reject(new Error(`writer exited (${code}) before it was ready`)));
  });
  readyPromise.catch(() => {}); // observed by the test that awaits it
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const [word, stream, revision, position, count] = line.split(' ');
    if (word === 'ready') ready();
    if (word === 'ack')
      acks.push({ stream: stream!, revision: Number(revision), position: position!, count: Number(count) });
  });
  return { child, acks, ready: readyPromise };
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(5);
  }
}

async function killHard(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** Every acknowledged append is there with its position; positions run 0..head without a gap. */
async function assertLogHolds(
  t: ExecutionContext,
  store: LmdbEventStore,
  acks: readonly Ack[],
): Promise<void> {
  const all = await collect(store.readAll());
  t.deepEqual(
    all.map((e) => e.position),
    all.map((_, i) => String(i)),
    'positions have no gap',
  );
  t.is(await store.headPosition(), all.length === 0 ? null : String(all.length - 1));
  const streams = new Map<string, RecordedEvent[]>();
  for (const e of all) streams.set(e.streamId, [...(streams.get(e.streamId) ?? []), e]);
  for (const [stream, events] of streams)
    t.deepEqual(
      events.map((e) => e.revision),
      events.map((_, i) => i),
      `${stream} revisions have no gap`,
    );
  for (const ack of acks) {
    const written = streams.get(ack.stream) ?? [];
    const last = written[ack.revision];
    t.is(last?.position, ack.position, `acknowledged ${ack.stream}@${ack.revision} is at ${ack.position}`);
    const batch = written.slice(ack.revision - ack.count + 1, ack.revision + 1);
    t.deepEqual(
      batch.map((e) => Number(e.position)),
      batch.map((_, i) => Number(ack.position) - ack.count + 1 + i),
      'a multi-event append is contiguous',
    );
  }
}

test.serial(
  'every acknowledged append survives kill -9 at a random moment; positions have no gap',
  async (t) => {
    const path = await tempDir(t);
    const acked: Ack[] = [];
    for (let round = 0; round < 3; round++) {
      const writer = startWriter(t, path, 6);
      await writer.ready;
      const threshold = randomInt(20, 300);
      await waitUntil(() => writer.acks.length >= threshold, 20_000);
      await sleep(randomInt(0, 15));
      await killHard(writer.child);
      t.true(writer.acks.length >= threshold);
      acked.push(...writer.acks);
      t.log(`round ${round}: killed after ${writer.acks.length} acknowledged appends`);
      const store = await openLmdbEventStore({ path });
      try {
        await assertLogHolds(t, store, acked);
      } finally {
        await store.close();
      }
    }
  },
);

test.serial(
  'a subscriber in another process sees a writer process live: exactly once, in order',
  async (t) => {
    const path = await tempDir(t);
    const store = await openLmdbEventStore({ path, pollIntervalMs: 20 });
    t.teardown(() => store.close());
    const subscription = store.subscribeToAll({ filter: { streamNamePrefix: ['job-'] } });
    const it = subscription[Symbol.asyncIterator]();
    t.like((await it.next()).value as SubscriptionItem, { kind: 'caught_up', position: null });
    const writer = startWriter(t, path, 3);
    const seen: RecordedEvent[] = [];
    while (seen.length < 150) {
      const item = await it.next();
      if (!item.done && item.value.kind === 'event') seen.push(item.value.event);
    }
    await killHard(writer.child);
    const head = Number(await store.headPosition());
    while (seen.length < head + 1) {
      const item = await it.next();
      if (!item.done && item.value.kind === 'event') seen.push(item.value.event);
    }
    t.deepEqual(
      seen.map((e) => e.position),
      seen.map((_, i) => String(i)),
    );
    await assertLogHolds(t, store, writer.acks);
    await subscription.close();
  },
);

test('concurrent appends share write transactions (group commit)', async (t) => {
  const store = await openTemp(t);
  const before = store.stats();
  await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      store.append(`job-g${i}`, [event()], { expectedRevision: 'no_stream' }),
    ),
  );
  const burst = store.stats();
  t.is(burst.appends - before.appends, 200);
  const burstTxns = burst.appendTransactions - before.appendTransactions;
  t.true(burstTxns <= 5, `200 appends of one turn took ${burstTxns} transactions`);
  t.is(burst.lastTxnId - before.lastTxnId, burstTxns, "LMDB's own transaction counter agrees");

  // Writers that each wait for their previous append: later appends join the commit in flight's successor.
  await Promise.all(
    Array.from({ length: 50 }, async (_, w) => {
      for (let k = 0; k < 10; k++)
        await store.append(`job-s${w}`, [event({ k })], { expectedRevision: k === 0 ? 'no_stream' : k - 1 });
    }),
  );
  const staggered = store.stats();
  const txns = staggered.appendTransactions - burst.appendTransactions;
  t.is(staggered.appends - burst.appends, 500);
  t.true(txns <= 100, `500 appends from 50 sequential writers took ${txns} transactions`);
  t.is(staggered.lastTxnId - burst.lastTxnId, txns);
  t.log(`200 concurrent appends: ${burstTxns} transaction(s); 50 writers x 10: ${txns} transactions`);
});

test('an empty store has no head; positions start at 0 and are consecutive', async (t) => {
  const store = await openTemp(t);
  t.is(await store.headPosition(), null);
  t.like(await store.append('job-a', [event(), event()]), { nextRevision: 1, position: '1' });
  t.like(await store.append('job-b', [event()]), { nextRevision: 0, position: '2' });
  t.is(await store.headPosition(), '2');
});

test.serial(
  'two processes appending to one store interleave without losing a position: a head this process wrote that another has appended past is not trusted',
  async (t) => {
    const path = await tempDir(t);
    const store = await openLmdbEventStore({ path });
    t.teardown(() => store.close());
    const mine: Ack[] = [];
    let revision = -1;
    const appendMine = async (n: number) => {
      const r = await store.append('job-here', [event({ n })], {
        expectedRevision: revision < 0 ? 'no_stream' : revision,
      });
      revision = r.nextRevision;
      mine.push({ stream: 'job-here', revision, position: r.position, count: 1 });
    };
    await appendMine(0);
    const writer = startWriter(t, path, 2);
    await writer.ready;
    // Appends from here while the other process appends: each one's head may be stale by then.
    for (let n = 1; writer.acks.length < 40 || n <= 20; n++) {
      await appendMine(n);
      await sleep(2);
    }
    await killHard(writer.child);
    await appendMine(999);
    const positions = [...mine, ...writer.acks].map((a) => Number(a.position));
    t.is(new Set(positions).size, positions.length, 'no two acknowledged appends share a position');
    t.true(
      mine.some((a, i) => i > 0 && Number(a.position) > Number((mine[i - 1] as Ack).position) + 1),
      'the other process did append between two of these',
    );
    await assertLogHolds(t, store, [...mine, ...writer.acks]);
  },
);

test('headInWrite: a hint is taken only while it is the head; a hint past the head or behind it falls back to the log', async (t) => {
  const layout = openLmdbLayout(await tempDir(t));
  t.teardown(() => layout.root.close());
  await layout.root.transaction(() => {
    for (let i = 0; i < 5; i++) layout.events.put(i, '{}');
  });
  const heads = await layout.root.transaction(() => [
    headInWrite(layout, 4),
    headInWrite(layout, 2),
    headInWrite(layout, 9),
    headInWrite(layout, undefined),
  ]);
  t.deepEqual(heads, [4, 4, 4, 4]);
});

test('maxAge follows the injected clock', async (t) => {
  let now = Date.parse('2026-01-01T00:00:00.000Z');
  const store = await openTemp(t, { clock: () => new Date(now) });
  await store.setStreamMetadata('job-old', { maxAge: 60 });
  await store.append('job-old', [event()]);
  const [recorded] = await collect(store.readStream('job-old'));
  t.is(recorded?.created, '2026-01-01T00:00:00.000Z');
  now += 60_000;
  t.is((await collect(store.readStream('job-old'))).length, 1, 'exactly maxAge old is still visible');
  now += 1;
  t.is((await collect(store.readStream('job-old'))).length, 0);
  t.is((await collect(store.readAll())).length, 0);
  await store.append('job-old', [event()]);
  t.is((await collect(store.readStream('job-old'))).length, 1);
});

test('events, metadata and deletions persist across close and reopen', async (t) => {
  const path = await tempDir(t);
  const first = await openLmdbEventStore({ path });
  await first.append('job-keep', [event({ n: 1 }), event({ n: 2 })]);
  await first.append('job-gone', [event()]);
  await first.deleteStream('job-gone');
  await first.setStreamMetadata('job-keep', { maxCount: 1 });
  await first.close();
  const second = await openLmdbEventStore({ path });
  t.teardown(() => second.close());
  t.deepEqual(
    (await collect(second.readAll())).map((e) => [e.streamId, e.data.n]),
    [['job-keep', 2]],
  );
  t.deepEqual(await second.getStreamMetadata('job-keep'), { maxCount: 1 });
  t.like(await second.append('job-gone', [event()], { expectedRevision: 'no_stream' }), {
    nextRevision: 1,
    position: '3',
  });
});

test('close() lets accepted appends commit, ends subscriptions, then refuses calls', async (t) => {
  const path = await tempDir(t);
  const store = await openLmdbEventStore({ path });
  const subscription = store.subscribeToAll();
  const it = subscription[Symbol.asyncIterator]();
  t.is(((await it.next()).value as SubscriptionItem).kind, 'caught_up');
  const waiting = it.next();
  const inFlight = Array.from({ length: 20 }, (_, i) => store.append(`job-c${i}`, [event()]));
  const closed = store.close();
  t.is((await Promise.allSettled(inFlight)).filter((r) => r.status === 'fulfilled').length, 20);
  await closed;
  const result = await waiting;
  t.true(result.done === true || result.value?.kind === 'event');
  await t.throwsAsync(store.append('job-late', [event()]), { instanceOf: Error });
  t.true(isEventStoreClosedError(await store.append('job-late', [event()]).catch((e: unknown) => e)));
  t.true(isEventStoreClosedError(await collect(store.readAll()).catch((e: unknown) => e)));
  t.throws(() => store.subscribeToAll());
  await store.close();
  const reopened = await openLmdbEventStore({ path });
  t.teardown(() => reopened.close());
  t.is((await collect(reopened.readAll())).length, 20);
});

test('onAppended: one call per group commit with the new head; unsubscribe stops it', async (t) => {
  const store = await openTemp(t);
  const heads: string[] = [];
  const stop = store.onAppended((head) => heads.push(head));
  await Promise.all([store.append('job-a', [event()]), store.append('job-b', [event(), event()])]);
  await sleep(0);
  t.deepEqual(heads, ['2']);
  await store.append('job-a', [event()]);
  await sleep(0);
  t.deepEqual(heads, ['2', '3']);
  stop();
  await store.append('job-a', [event()]);
  await sleep(0);
  t.deepEqual(heads, ['2', '3']);
});

test('waitForAppend: at once when past, on the next append, or the current head after the timeout', async (t) => {
  const store = await openTemp(t);
  t.is(await store.waitForAppend(null, { timeoutMs: 20 }), null);
  await store.append('job-a', [event()]);
  t.is(await store.waitForAppend(null), '0');
  const waiting = store.waitForAppend('0');
  await sleep(10);
  await store.append('job-a', [event()]);
  t.is(await waiting, '1');
  const started = Date.now();
  t.is(await store.waitForAppend('1', { timeoutMs: 50 }), '1');
  t.true(Date.now() - started >= 45);
  const aborted = new AbortController();
  const pending = store.waitForAppend('1', { signal: aborted.signal });
  aborted.abort();
  t.is(await pending, '1');
});

test('subscriptions and reads cross batch boundaries without loss or repeat', async (t) => {
  const store = await openTemp(t, { batchSize: 3 });
  for (let i = 0; i < 10; i++)
    await store.append(i % 2 ? 'job-odd' : 'other-even', [event({ i }), event({ i })]);
  t.is((await collect(store.readAll())).length, 20);
  t.deepEqual(
    (await collect(store.readAll({ filter: { streamNamePrefix: ['job-'] }, maxCount: 4 }))).map(
      (e) => e.data.i,
    ),
    [1, 1, 3, 3],
  );
  t.deepEqual(
    (await collect(store.readStream('job-odd', { direction: 'backwards', fromRevision: 6 }))).map(
      (e) => e.revision,
    ),
    [6, 5, 4, 3, 2, 1, 0],
  );
  const subscription = store.subscribeToAll({ fromPosition: '4', filter: { streamNamePrefix: ['job-'] } });
  const items: SubscriptionItem[] = [];
  for await (const item of subscription) {
    items.push(item);
    if (item.kind === 'caught_up') break;
  }
  t.deepEqual(
    items.map((i) => (i.kind === 'event' ? i.event.position : `caught_up ${i.position}`)),
    ['6', '7', '10', '11', '14', '15', '18', '19', 'caught_up 19'],
  );
});

test('invalid input is refused before anything is written', async (t) => {
  const store = await openTemp(t);
  await t.throwsAsync(store.append('job-x', []), { instanceOf: InvalidEventStoreArgumentError });
  await t.throwsAsync(store.append('bad\u0000name', [event()]), {
    instanceOf: InvalidEventStoreArgumentError,
  });
  await t.throwsAsync(store.append('', [event()]), { instanceOf: InvalidEventStoreArgumentError });
  await t.throwsAsync(store.append('job-x', [event(), { id: 'x', type: 'e', data: { big: 1n } }]), {
    instanceOf: InvalidEventStoreArgumentError,
  });
  await t.throwsAsync(store.append('job-x', [event()], { expectedRevision: -1 }), {
    instanceOf: InvalidEventStoreArgumentError,
  });
  await t.throwsAsync(store.setStreamMetadata('job-x', { maxCount: 0 }), {
    instanceOf: InvalidEventStoreArgumentError,
  });
  await t.throwsAsync(collect(store.readAll({ fromPosition: '1e3' })), {
    instanceOf: InvalidEventStoreArgumentError,
  });
  t.throws(() => store.subscribeToAll({ fromPosition: '-1' }), {
    instanceOf: InvalidEventStoreArgumentError,
  });
  t.is(await store.headPosition(), null);
});

test('a soft-deleted stream counts as no stream for stream_exists, and takes its last revision to continue', async (t) => {
  const store = await openTemp(t);
  await store.append('job-d', [event(), event()]);
  await store.deleteStream('job-d');
  await t.throwsAsync(store.append('job-d', [event()], { expectedRevision: 'stream_exists' }), {
    message: /actual no_stream/,
  });
  t.like(await store.append('job-d', [event()], { expectedRevision: 1 }), { nextRevision: 2 });
  t.like(await store.append('job-d', [event()], { expectedRevision: 'stream_exists' }), { nextRevision: 3 });
  await store.deleteStream('job-d');
  await store.deleteStream('job-d');
  await store.deleteStream('job-never-written');
  t.deepEqual(await collect(store.readStream('job-d')), []);
  t.like(await store.append('job-d', [event()], { expectedRevision: 'no_stream' }), { nextRevision: 4 });
});

test('a long read lets the process turn between batches: timers and I/O run while readAll and readStream scan', async (t) => {
  const store = await openTemp(t, { batchSize: 10 });
  for (let i = 0; i < 20; i++)
    await store.append(
      'job-long',
      Array.from({ length: 10 }, (_, j) => event({ i, j })),
    );
  // Turns of the event loop while a read runs: a reader that never yields a macrotask gives none.
  const turnsDuring = async (read: () => AsyncIterable<unknown>) => {
    let turns = 0;
    let reading = true;
    const tick = () => {
      if (!reading) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    let events = 0;
    for await (const _ of read()) events++;
    reading = false;
    return { turns, read: events };
  };
  const all = await turnsDuring(() => store.readAll());
  t.is(all.read, 200);
  t.true(all.turns >= 19, `readAll: ${all.turns} turns in 20 batches`);
  const stream = await turnsDuring(() => store.readStream('job-long', { direction: 'backwards' }));
  t.is(stream.read, 200);
  t.true(stream.turns >= 19, `readStream: ${stream.turns} turns in 20 batches`);
  // A read of one batch (most are: a job's new events, a command's reload) ends without a turn.
  const short = await turnsDuring(() => store.readStream('job-long', { fromRevision: 195 }));
  t.deepEqual(short, { turns: 0, read: 5 });
});
