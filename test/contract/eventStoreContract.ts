import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import fc from 'fast-check';
import type {
  EventData,
  EventStore,
  ExpectedRevision,
  RecordedEvent,
  Subscription,
  SubscriptionItem,
} from '../../src/infra/eventstore/eventStore.ts';
import {
  InvalidEventStoreArgumentError,
  isWrongExpectedRevisionError,
} from '../../src/infra/eventstore/eventStore.ts';

/**
 * The behaviour every EventStore adapter must show, written against the port only: each test uses its own
 * stream names and reads `$all` through its own prefix filter, so the suite also runs against a shared,
 * non-empty server. Timing-based steps are bounded (subscriptions wait at most {@link PULL_TIMEOUT_MS}).
 */
export type EventStoreFactory = () => Promise<{ store: EventStore; cleanup: () => Promise<void> }>;

const PULL_TIMEOUT_MS = 5000;
const DECIMAL = /^(0|[1-9][0-9]*)$/;

const event = (
  type: string,
  data: Record<string, unknown> = {},
  metadata?: Record<string, unknown>,
): EventData => ({
  id: randomUUID(),
  type,
  data,
  ...(metadata ? { metadata } : {}),
});

const events = (n: number, type = 'counted'): EventData[] =>
  Array.from({ length: n }, (_, i) => event(type, { i }));

/** A name prefix no other test (or earlier run against a shared server) uses. */
const uniquePrefix = (): string => `contract-${randomUUID().slice(0, 8)}-`;

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

const comparePositions = (a: string, b: string): number => {
  const d = BigInt(a) - BigInt(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
};

function assertIncreasing(t: ExecutionContext, positions: readonly string[]): void {
  for (const p of positions) t.regex(p, DECIMAL);
  for (let i = 1; i < positions.length; i++)
    t.true(comparePositions(positions[i - 1]!, positions[i]!) < 0, `${positions[i - 1]} < ${positions[i]}`);
}

async function appendOrError(
  store: EventStore,
  stream: string,
  expected: ExpectedRevision,
): Promise<unknown> {
  try {
    return await store.append(stream, [event('probe')], { expectedRevision: expected });
  } catch (e) {
    return e;
  }
}

/** Pulls a subscription with a deadline, so a broken adapter fails the test instead of hanging it. */
class Puller {
  readonly #it: AsyncIterator<SubscriptionItem>;

  constructor(readonly subscription: Subscription) {
    this.#it = subscription[Symbol.asyncIterator]();
  }

  async next(timeoutMs = PULL_TIMEOUT_MS): Promise<IteratorResult<SubscriptionItem>> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no subscription item within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.#it.next(), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  async item(): Promise<SubscriptionItem> {
    const r = await this.next();
    if (r.done) throw new Error('subscription ended');
    return r.value;
  }

  async event(): Promise<RecordedEvent> {
    const item = await this.item();
    if (item.kind !== 'event') throw new Error(`expected an event, got ${JSON.stringify(item)}`);
    return item.event;
  }

  /** Events up to (and consuming) `caught_up`. */
  async history(): Promise<{ events: RecordedEvent[]; position: string | null }> {
    const out: RecordedEvent[] = [];
    for (;;) {
      const item = await this.item();
      if (item.kind === 'caught_up') return { events: out, position: item.position };
      out.push(item.event);
    }
  }

  /** No item arrives within `ms` (the pending pull is left to the subscription's close). */
  async quietFor(ms: number): Promise<boolean> {
    const pending = this.#it.next();
    const winner = await Promise.race([
      pending.then(() => 'item' as const),
      sleep(ms).then(() => 'quiet' as const),
    ]);
    if (winner === 'item') throw new Error(`unexpected item ${JSON.stringify(await pending)}`);
    this.#pendingAfterQuiet = pending;
    return true;
  }

  #pendingAfterQuiet: Promise<IteratorResult<SubscriptionItem>> | undefined;

  /** The item a `quietFor` left pending. */
  async pending(timeoutMs = PULL_TIMEOUT_MS): Promise<IteratorResult<SubscriptionItem>> {
    const pending = this.#pendingAfterQuiet;
    if (!pending) throw new Error('nothing pending');
    this.#pendingAfterQuiet = undefined;
    return Promise.race([
      pending,
      sleep(timeoutMs).then(() => Promise.reject(new Error('pending pull never settled'))),
    ]);
  }
}

export function defineEventStoreContract(name: string, factory: EventStoreFactory): void {
  const storeTest = (title: string, body: (t: ExecutionContext, store: EventStore) => Promise<void>) =>
    test(`${name}: ${title}`, async (t) => {
      const { store, cleanup } = await factory();
      t.teardown(cleanup);
      await body(t, store);
    });

  storeTest(
    'append returns the revision and position; readStream returns what was written',
    async (t, store) => {
      const stream = `${uniquePrefix()}s`;
      const first = await store.append(stream, [event('created', { a: 1 }, { actor: 'x' })], {
        expectedRevision: 'no_stream',
      });
      t.is(first.nextRevision, 0);
      t.regex(first.position, DECIMAL);
      const second = await store.append(stream, [
        event('changed', { b: [1, 'two', null], nested: { c: true } }),
      ]);
      t.is(second.nextRevision, 1);
      const read = await collect(store.readStream(stream));
      t.is(read.length, 2);
      const [e0, e1] = read as [RecordedEvent, RecordedEvent];
      t.like(e0, {
        streamId: stream,
        revision: 0,
        position: first.position,
        type: 'created',
        data: { a: 1 },
      });
      t.deepEqual(e0.metadata, { actor: 'x' });
      t.deepEqual(e1.data, { b: [1, 'two', null], nested: { c: true } });
      t.deepEqual(e1.metadata, {});
      t.is(e1.position, second.position);
      t.false(Number.isNaN(Date.parse(e0.created)));
      t.is(new Date(e0.created).toISOString(), e0.created);
    },
  );

  storeTest('expected revision: no_stream, stream_exists, exact revision and any', async (t, store) => {
    const stream = `${uniquePrefix()}s`;
    t.true(isWrongExpectedRevisionError(await appendOrError(store, stream, 'stream_exists')));
    t.true(isWrongExpectedRevisionError(await appendOrError(store, stream, 0)));
    t.like(await appendOrError(store, stream, 'no_stream'), { nextRevision: 0 });
    t.true(isWrongExpectedRevisionError(await appendOrError(store, stream, 'no_stream')));
    t.like(await appendOrError(store, stream, 'stream_exists'), { nextRevision: 1 });
    t.true(isWrongExpectedRevisionError(await appendOrError(store, stream, 0)));
    t.true(isWrongExpectedRevisionError(await appendOrError(store, stream, 2)));
    t.like(await appendOrError(store, stream, 1), { nextRevision: 2 });
    t.like(await appendOrError(store, stream, 'any'), { nextRevision: 3 });
    t.like(await appendOrError(store, `${uniquePrefix()}fresh`, 'any'), { nextRevision: 0 });
    t.is((await collect(store.readStream(stream))).length, 4);
  });

  storeTest("a bad argument throws the port's InvalidEventStoreArgumentError", async (t, store) => {
    const empty = await t.throwsAsync(store.append(`${uniquePrefix()}s`, []));
    t.true(empty instanceof InvalidEventStoreArgumentError, `got ${String(empty)}`);
    t.like(empty, { code: 'invalid_event_store_argument', kind: 'invalid' });
  });

  storeTest(
    'a wrong expected revision throws WrongExpectedRevisionError naming stream, expected, actual',
    async (t, store) => {
      const stream = `${uniquePrefix()}s`;
      await store.append(stream, events(3));
      const error = await t.throwsAsync(store.append(stream, [event('late')], { expectedRevision: 1 }));
      t.true(isWrongExpectedRevisionError(error));
      t.like(error, { stream, expected: 1, actual: 2, code: 'wrong_expected_revision', kind: 'conflict' });
      const missing = `${uniquePrefix()}missing`;
      const noStream = await t.throwsAsync(
        store.append(missing, [event('x')], { expectedRevision: 'stream_exists' }),
      );
      t.like(noStream, { stream: missing, expected: 'stream_exists', actual: 'no_stream' });
    },
  );

  storeTest(
    'an append is atomic: a multi-event append with a wrong expected revision writes none',
    async (t, store) => {
      const prefix = uniquePrefix();
      const stream = `${prefix}s`;
      await store.append(stream, events(2), { expectedRevision: 'no_stream' });
      await t.throwsAsync(store.append(stream, events(5, 'rejected'), { expectedRevision: 0 }));
      await t.throwsAsync(store.append(stream, events(5, 'rejected'), { expectedRevision: 'no_stream' }));
      const read = await collect(store.readStream(stream));
      t.deepEqual(
        read.map((e) => e.type),
        ['counted', 'counted'],
      );
      const all = await collect(store.readAll({ filter: { streamNamePrefix: [prefix] } }));
      t.is(all.length, 2);
      const ok = await store.append(stream, events(5, 'accepted'), { expectedRevision: 1 });
      t.is(ok.nextRevision, 6);
      const after = await collect(store.readStream(stream));
      t.deepEqual(
        after.map((e) => e.revision),
        [0, 1, 2, 3, 4, 5, 6],
      );
      assertIncreasing(
        t,
        after.map((e) => e.position),
      );
    },
  );

  storeTest(
    '100 concurrent appends with the same expected revision: exactly one succeeds',
    async (t, store) => {
      const stream = `${uniquePrefix()}s`;
      await store.append(stream, [event('first')], { expectedRevision: 'no_stream' });
      const results = await Promise.allSettled(
        Array.from({ length: 100 }, (_, i) =>
          store.append(stream, [event('racer', { i }), event('racer2', { i })], { expectedRevision: 0 }),
        ),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      t.is(won.length, 1);
      t.is(lost.length, 99);
      t.true(lost.every((r) => isWrongExpectedRevisionError(r.reason)));
      const read = await collect(store.readStream(stream));
      t.is(read.length, 3);
      t.is(read[1]!.data.i, read[2]!.data.i);
    },
  );

  storeTest(
    'positions are decimal strings, strictly increasing; the result is the last event position',
    async (t, store) => {
      const prefix = uniquePrefix();
      const results = [];
      for (let i = 0; i < 5; i++) results.push(await store.append(`${prefix}${i % 2}`, events(3)));
      const all = await collect(store.readAll({ filter: { streamNamePrefix: [prefix] } }));
      t.is(all.length, 15);
      assertIncreasing(
        t,
        all.map((e) => e.position),
      );
      t.deepEqual(
        results.map((r) => r.position),
        [2, 5, 8, 11, 14].map((i) => all[i]!.position),
      );
      const head = await store.headPosition();
      t.true(head !== null && comparePositions(head, results.at(-1)!.position) >= 0);
    },
  );

  storeTest('interleaved appends to many streams read back from $all in position order', async (t, store) => {
    const prefix = uniquePrefix();
    const streams = Array.from({ length: 10 }, (_, i) => `${prefix}${i}`);
    const acknowledged: { stream: string; revision: number; position: string }[] = [];
    await Promise.all(
      streams.map(async (stream) => {
        for (let revision = 0; revision < 8; revision++) {
          const r = await store.append(stream, [event('step', { stream, revision })], {
            expectedRevision: revision === 0 ? 'no_stream' : revision - 1,
          });
          acknowledged.push({ stream, revision, position: r.position });
        }
      }),
    );
    const all = await collect(store.readAll({ filter: { streamNamePrefix: [prefix] } }));
    t.is(all.length, 80);
    assertIncreasing(
      t,
      all.map((e) => e.position),
    );
    const byPosition = [...acknowledged].sort((a, b) => comparePositions(a.position, b.position));
    t.deepEqual(
      all.map((e) => [e.streamId, e.revision, e.position]),
      byPosition.map((a) => [a.stream, a.revision, a.position]),
    );
    for (const stream of streams) {
      const revisions = all.filter((e) => e.streamId === stream).map((e) => e.revision);
      t.deepEqual(revisions, [0, 1, 2, 3, 4, 5, 6, 7]);
    }
  });

  storeTest(
    'readStream: forwards, backwards, inclusive fromRevision, start and end, maxCount',
    async (t, store) => {
      const stream = `${uniquePrefix()}s`;
      await store.append(stream, events(10));
      const revisions = async (options: Parameters<EventStore['readStream']>[1]) =>
        (await collect(store.readStream(stream, options))).map((e) => e.revision);
      t.deepEqual(await revisions({}), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      t.deepEqual(await revisions({ fromRevision: 7 }), [7, 8, 9]);
      t.deepEqual(await revisions({ fromRevision: 'start', maxCount: 3 }), [0, 1, 2]);
      t.deepEqual(await revisions({ fromRevision: 'end' }), []);
      t.deepEqual(await revisions({ fromRevision: 20 }), []);
      t.deepEqual(await revisions({ direction: 'backwards' }), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
      t.deepEqual(await revisions({ direction: 'backwards', maxCount: 2 }), [9, 8]);
      t.deepEqual(await revisions({ direction: 'backwards', fromRevision: 'end', maxCount: 1 }), [9]);
      t.deepEqual(await revisions({ direction: 'backwards', fromRevision: 4 }), [4, 3, 2, 1, 0]);
      t.deepEqual(await revisions({ direction: 'backwards', fromRevision: 4, maxCount: 2 }), [4, 3]);
      t.deepEqual(await revisions({ direction: 'forwards', fromRevision: 3, maxCount: 0 }), []);
    },
  );

  storeTest('readStream of a stream that was never written yields nothing', async (t, store) => {
    const stream = `${uniquePrefix()}never`;
    t.deepEqual(await collect(store.readStream(stream)), []);
    t.deepEqual(await collect(store.readStream(stream, { direction: 'backwards' })), []);
  });

  storeTest(
    'readAll: forwards, backwards, inclusive fromPosition, maxCount, prefix filter',
    async (t, store) => {
      const prefix = uniquePrefix();
      const [a, b, c] = [`${prefix}a-1`, `${prefix}b-1`, `${prefix}c-1`];
      for (let i = 0; i < 4; i++) {
        await store.append(a, [event('a', { i })]);
        await store.append(b, [event('b', { i })]);
        await store.append(c, [event('c', { i })]);
      }
      const mine = { streamNamePrefix: [prefix] };
      const all = await collect(store.readAll({ filter: mine }));
      t.is(all.length, 12);
      const positions = all.map((e) => e.position);
      const read = async (options: Parameters<EventStore['readAll']>[0]) =>
        (await collect(store.readAll(options))).map((e) => e.position);
      t.deepEqual(await read({ filter: mine, fromPosition: positions[5]! }), positions.slice(5));
      t.deepEqual(
        await read({ filter: mine, fromPosition: positions[5]!, maxCount: 2 }),
        positions.slice(5, 7),
      );
      t.deepEqual(await read({ filter: mine, maxCount: 3 }), positions.slice(0, 3));
      t.deepEqual(await read({ filter: mine, fromPosition: 'end' }), []);
      t.deepEqual(await read({ filter: mine, direction: 'backwards' }), [...positions].reverse());
      t.deepEqual(await read({ filter: mine, direction: 'backwards', maxCount: 2 }), [
        positions[11],
        positions[10],
      ]);
      t.deepEqual(
        await read({ filter: mine, direction: 'backwards', fromPosition: positions[5]! }),
        positions.slice(0, 6).reverse(),
      );
      const onlyA = await collect(store.readAll({ filter: { streamNamePrefix: [`${prefix}a-`] } }));
      t.deepEqual(
        onlyA.map((e) => e.data.i),
        [0, 1, 2, 3],
      );
      t.true(onlyA.every((e) => e.streamId === a));
      const aAndC = await collect(
        store.readAll({ filter: { streamNamePrefix: [`${prefix}a-`, `${prefix}c-`] } }),
      );
      t.deepEqual(
        aAndC.map((e) => e.type),
        ['a', 'c', 'a', 'c', 'a', 'c', 'a', 'c'],
      );
      t.deepEqual(await collect(store.readAll({ filter: { streamNamePrefix: [uniquePrefix()] } })), []);
    },
  );

  storeTest('stream metadata: none by default; set replaces it as a whole', async (t, store) => {
    const stream = `${uniquePrefix()}s`;
    t.deepEqual(await store.getStreamMetadata(stream), {});
    await store.setStreamMetadata(stream, { maxCount: 5, maxAge: 3600 });
    t.deepEqual(await store.getStreamMetadata(stream), { maxCount: 5, maxAge: 3600 });
    await store.append(stream, events(1));
    await store.setStreamMetadata(stream, { maxAge: 60 });
    t.deepEqual(await store.getStreamMetadata(stream), { maxAge: 60 });
    t.is((await collect(store.readStream(stream))).length, 1);
  });

  storeTest('maxCount metadata: only the latest N events are read', async (t, store) => {
    const prefix = uniquePrefix();
    const stream = `${prefix}s`;
    await store.append(stream, events(6));
    await store.setStreamMetadata(stream, { maxCount: 3 });
    const revisions = async (options?: Parameters<EventStore['readStream']>[1]) =>
      (await collect(store.readStream(stream, options))).map((e) => e.revision);
    t.deepEqual(await revisions(), [3, 4, 5]);
    t.deepEqual(await revisions({ direction: 'backwards' }), [5, 4, 3]);
    t.deepEqual(await revisions({ fromRevision: 1 }), [3, 4, 5]);
    const all = await collect(store.readAll({ filter: { streamNamePrefix: [prefix] } }));
    t.deepEqual(
      all.map((e) => e.revision),
      [3, 4, 5],
    );
    await store.append(stream, events(2), { expectedRevision: 5 });
    t.deepEqual(await revisions(), [5, 6, 7]);
  });

  storeTest('maxAge metadata: events older than maxAge seconds are no longer read', async (t, store) => {
    const prefix = uniquePrefix();
    const stream = `${prefix}s`;
    const keep = `${prefix}keep`;
    await store.setStreamMetadata(stream, { maxAge: 1 });
    await store.append(stream, events(2));
    await store.append(keep, events(1));
    t.is((await collect(store.readStream(stream))).length, 2);
    await sleep(1600);
    t.deepEqual(await collect(store.readStream(stream)), []);
    const all = await collect(store.readAll({ filter: { streamNamePrefix: [prefix] } }));
    t.deepEqual(
      all.map((e) => e.streamId),
      [keep],
    );
    const fresh = await store.append(stream, events(1), { expectedRevision: 1 });
    t.deepEqual(
      (await collect(store.readStream(stream))).map((e) => e.revision),
      [fresh.nextRevision],
    );
  });

  storeTest(
    'deleteStream hides its events everywhere; the stream can be recreated, revisions continue',
    async (t, store) => {
      const prefix = uniquePrefix();
      const stream = `${prefix}s`;
      const other = `${prefix}other`;
      await store.append(stream, events(3));
      await store.append(other, events(1));
      await store.deleteStream(stream);
      t.deepEqual(await collect(store.readStream(stream)), []);
      t.deepEqual(await collect(store.readStream(stream, { direction: 'backwards' })), []);
      const all = await collect(store.readAll({ filter: { streamNamePrefix: [prefix] } }));
      t.deepEqual(
        all.map((e) => e.streamId),
        [other],
      );
      const history = new Puller(store.subscribeToStream(stream));
      t.deepEqual((await history.history()).events, []);
      await history.subscription.close();

      const recreated = await store.append(stream, [event('again')], { expectedRevision: 'no_stream' });
      t.is(recreated.nextRevision, 3);
      const read = await collect(store.readStream(stream));
      t.deepEqual(
        read.map((e) => [e.revision, e.type]),
        [[3, 'again']],
      );
      await store.append(stream, [event('more')], { expectedRevision: 'any' });
      const readAll = await collect(store.readAll({ filter: { streamNamePrefix: [`${prefix}s`] } }));
      t.deepEqual(
        readAll.map((e) => e.revision),
        [3, 4],
      );
    },
  );

  storeTest('subscribeToStream: history, one caught_up, then live events in order', async (t, store) => {
    const stream = `${uniquePrefix()}s`;
    await store.append(stream, events(3));
    const sub = new Puller(store.subscribeToStream(stream));
    t.teardown(() => sub.subscription.close());
    const history = await sub.history();
    t.deepEqual(
      history.events.map((e) => e.revision),
      [0, 1, 2],
    );
    t.true(history.position === null || comparePositions(history.position, history.events[2]!.position) >= 0);
    await store.append(stream, events(2), { expectedRevision: 2 });
    t.is((await sub.event()).revision, 3);
    t.is((await sub.event()).revision, 4);
    await store.append(`${stream}-not-this-one`, events(1));
    await store.append(stream, events(1));
    t.is((await sub.event()).revision, 5);
  });

  storeTest(
    'subscribeToStream: fromRevision is exclusive; end delivers only new events',
    async (t, store) => {
      const stream = `${uniquePrefix()}s`;
      await store.append(stream, events(4));
      const fromOne = new Puller(store.subscribeToStream(stream, { fromRevision: 1 }));
      const fromEnd = new Puller(store.subscribeToStream(stream, { fromRevision: 'end' }));
      t.teardown(() =>
        Promise.all([fromOne.subscription.close(), fromEnd.subscription.close()]).then(() => {}),
      );
      t.deepEqual(
        (await fromOne.history()).events.map((e) => e.revision),
        [2, 3],
      );
      t.deepEqual((await fromEnd.history()).events, []);
      await store.append(stream, events(1));
      t.is((await fromEnd.event()).revision, 4);
      t.is((await fromOne.event()).revision, 4);
    },
  );

  storeTest(
    'subscribeToAll: history, caught_up once after it, then live, filtered by prefix',
    async (t, store) => {
      const prefix = uniquePrefix();
      await store.append(`${prefix}a`, events(2));
      await store.append(`other-${prefix}`, events(1));
      await store.append(`${prefix}b`, events(1));
      const sub = new Puller(store.subscribeToAll({ filter: { streamNamePrefix: [prefix] } }));
      t.teardown(() => sub.subscription.close());
      const history = await sub.history();
      t.deepEqual(
        history.events.map((e) => [e.streamId, e.revision]),
        [
          [`${prefix}a`, 0],
          [`${prefix}a`, 1],
          [`${prefix}b`, 0],
        ],
      );
      t.true(
        history.position === null || comparePositions(history.position, history.events[2]!.position) >= 0,
      );
      await store.append(`other-${prefix}`, events(1));
      const live = await store.append(`${prefix}c`, events(2));
      const first = await sub.event();
      const second = await sub.event();
      t.deepEqual([first.streamId, second.streamId], [`${prefix}c`, `${prefix}c`]);
      t.is(second.position, live.position);
      await store.append(`${prefix}a`, events(1));
      const item = await sub.item();
      t.is(item.kind, 'event', 'caught_up is not repeated');
    },
  );

  storeTest(
    'readAll and subscribeToAll with stream-name prefixes: exactly the streams that begin with one, whatever characters names and prefixes hold',
    async (t, store) => {
      // Quotes, backslashes, control characters and surrogate pairs are written escaped (or not) in a stored
      // record; a prefix must select on the name itself either way. (No NUL: the LMDB adapter refuses it in
      // stream names.)
      const char = fc.constantFrom(
        'a',
        'b',
        '-',
        '.',
        '"',
        '\\',
        '\n',
        '\u0001',
        '\u007f',
        'é',
        '😀',
        '\u2028',
        '/',
      );
      const name = fc.string({ unit: char, minLength: 1, maxLength: 5 });
      const scenario = fc.record({
        names: fc.uniqueArray(name, { minLength: 1, maxLength: 5 }),
        extra: fc.array(fc.string({ unit: char, maxLength: 3 }), { maxLength: 2 }),
        cut: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
      });
      await fc.assert(
        fc.asyncProperty(scenario, async ({ names, extra, cut }) => {
          const tag = uniquePrefix();
          const appended: { stream: string; position: string }[] = [];
          for (const [i, n] of names.entries()) {
            const stream = `${tag}${n}`;
            const r = await store.append(stream, [event('named', { i })]);
            appended.push({ stream, position: r.position });
          }
          // Prefixes: the start of some of the names (so that some match), and a few arbitrary ones.
          const starts = cut.map((c, i) => {
            const n = names[i % names.length] as string;
            return n.slice(0, c % (n.length + 1));
          });
          const prefixes = [...starts, ...extra].map((p) => `${tag}${p}`);
          const expected = appended
            .filter((a) => prefixes.some((p) => a.stream.startsWith(p)))
            .map((a) => [a.stream, a.position]);
          const read = await collect(store.readAll({ filter: { streamNamePrefix: prefixes } }));
          const mine = read.filter((e) => e.streamId.startsWith(tag)).map((e) => [e.streamId, e.position]);
          t.deepEqual(mine, expected, 'readAll');
          t.is(read.length, mine.length, 'nothing outside the prefixes');
          const sub = new Puller(store.subscribeToAll({ filter: { streamNamePrefix: prefixes } }));
          try {
            const history = await sub.history();
            t.deepEqual(
              history.events.filter((e) => e.streamId.startsWith(tag)).map((e) => [e.streamId, e.position]),
              expected,
              'subscribeToAll',
            );
          } finally {
            await sub.subscription.close();
          }
        }),
        { numRuns: 25 },
      );
    },
  );

  storeTest('subscribeToAll: fromPosition is exclusive; end delivers only new events', async (t, store) => {
    const prefix = uniquePrefix();
    const filter = { streamNamePrefix: [prefix] };
    const r1 = await store.append(`${prefix}a`, events(1));
    await store.append(`${prefix}a`, events(1));
    await store.append(`${prefix}b`, events(1));
    const fromFirst = new Puller(store.subscribeToAll({ fromPosition: r1.position, filter }));
    const fromEnd = new Puller(store.subscribeToAll({ fromPosition: 'end', filter }));
    t.teardown(() =>
      Promise.all([fromFirst.subscription.close(), fromEnd.subscription.close()]).then(() => {}),
    );
    t.deepEqual(
      (await fromFirst.history()).events.map((e) => [e.streamId, e.revision]),
      [
        [`${prefix}a`, 1],
        [`${prefix}b`, 0],
      ],
    );
    t.deepEqual((await fromEnd.history()).events, []);
    const r4 = await store.append(`${prefix}c`, events(1));
    t.is((await fromEnd.event()).position, r4.position);
    t.is((await fromFirst.event()).position, r4.position);
  });

  storeTest('a subscriber started mid-write sees every event exactly once, in order', async (t, store) => {
    const prefix = uniquePrefix();
    const streams = Array.from({ length: 4 }, (_, i) => `${prefix}${i}`);
    const perStream = 40;
    let started: () => void = () => {};
    const halfWay = new Promise<void>((resolve) => {
      started = resolve;
    });
    let appended = 0;
    const writing = Promise.all(
      streams.map(async (stream) => {
        for (let revision = 0; revision < perStream; revision++) {
          await store.append(stream, [event('tick', { revision })], {
            expectedRevision: revision === 0 ? 'no_stream' : revision - 1,
          });
          if (++appended === 30) started();
        }
      }),
    );
    await halfWay;
    const all = new Puller(store.subscribeToAll({ filter: { streamNamePrefix: [prefix] } }));
    const one = new Puller(store.subscribeToStream(streams[1]!));
    t.teardown(() => Promise.all([all.subscription.close(), one.subscription.close()]).then(() => {}));
    const receive = async (puller: Puller, count: number) => {
      const received: RecordedEvent[] = [];
      let caughtUp = 0;
      while (received.length < count) {
        const item = await puller.item();
        if (item.kind === 'caught_up') caughtUp++;
        else received.push(item.event);
      }
      return { received, caughtUp };
    };
    const [fromAll, fromOne] = await Promise.all([
      receive(all, streams.length * perStream),
      receive(one, perStream),
      writing,
    ]);
    const expected = await collect(store.readAll({ filter: { streamNamePrefix: [prefix] } }));
    t.deepEqual(
      fromAll.received.map((e) => e.id),
      expected.map((e) => e.id),
    );
    t.true(fromAll.caughtUp <= 1);
    t.deepEqual(
      fromOne.received.map((e) => e.revision),
      Array.from({ length: perStream }, (_, i) => i),
    );
    t.true(fromOne.caughtUp <= 1);
    // The one caught_up comes after the last event when the history read ended at the head the writes had
    // reached by then: it is still owed, and then nothing more.
    if (fromAll.caughtUp === 0) t.is((await all.item()).kind, 'caught_up');
    t.true(await all.quietFor(100));
  });

  storeTest('a subscriber that does not pull does not hold back another one', async (t, store) => {
    const stream = `${uniquePrefix()}s`;
    const idle = store.subscribeToStream(stream);
    const busy = new Puller(store.subscribeToStream(stream));
    t.teardown(() => Promise.all([idle.close(), busy.subscription.close()]).then(() => {}));
    t.is((await busy.item()).kind, 'caught_up');
    for (let i = 0; i < 20; i++) await store.append(stream, [event('e', { i })]);
    for (let i = 0; i < 20; i++) t.is((await busy.event()).data.i, i);
  });

  storeTest(
    'close() ends a subscription that waits for events; breaking out of for-await closes it',
    async (t, store) => {
      const stream = `${uniquePrefix()}s`;
      await store.append(stream, events(2));
      const waiting = new Puller(store.subscribeToStream(stream));
      await waiting.history();
      t.true(await waiting.quietFor(50));
      const started = Date.now();
      await waiting.subscription.close();
      t.deepEqual(await waiting.pending(2000), { done: true, value: undefined });
      t.true(Date.now() - started < 1000);
      t.is((await waiting.next()).done, true);

      const looped = store.subscribeToStream(stream);
      const seen: SubscriptionItem[] = [];
      for await (const item of looped) {
        seen.push(item);
        if (item.kind === 'caught_up') break;
      }
      t.is(seen.length, 3);
      await looped.close(); // idempotent after the loop's own close
      const again = looped[Symbol.asyncIterator]();
      t.is((await again.next()).done, true);
    },
  );

  storeTest(
    'headPosition: null or a decimal string; after an append, at or past its position',
    async (t, store) => {
      const before = await store.headPosition();
      t.true(before === null || DECIMAL.test(before));
      const r = await store.append(`${uniquePrefix()}s`, events(2));
      const after = await store.headPosition();
      t.true(after !== null && DECIMAL.test(after) && comparePositions(after, r.position) >= 0);
      if (before !== null) t.true(comparePositions(after!, before) > 0);
    },
  );
}
