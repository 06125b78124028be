import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import type { RetryInfo } from '../../src/infra/eventstore/esdb/index.ts';
import { isTransientError, openEsdbEventStore } from '../../src/infra/eventstore/esdb/index.ts';
import type { EventStore, RecordedEvent, SubscriptionItem } from '../../src/infra/eventstore/eventStore.ts';
import type { EsdbDouble } from '../helpers/esdbDouble/esdbDouble.ts';
import { startEsdbDouble } from '../helpers/esdbDouble/esdbDouble.ts';

/**
 * A node dies under a subscriber, twice — once while the subscriber is still reading history, once while
 * it follows live events — and events are written while it is down (as another node of a cluster would
 * take them). After each restart the subscriber resumes from the last event it read: every event
 * arrives exactly once, in `$all` order, with a single `caught_up`.
 */
const PAGE = 8;

/** Events written straight into the node's storage, as if replicated from a peer while this node was down. */
function writeWhileDown(double: EsdbDouble, stream: string, count: number): void {
  for (let i = 0; i < count; i++) {
    const result = double.store.write(stream, 'any', [
      {
        eventId: randomUUID(),
        type: 'tick',
        isJson: true,
        data: Buffer.from(JSON.stringify({ offline: i })),
        metadata: new Uint8Array(),
      },
    ]);
    if (result.kind !== 'success') throw new Error(`direct write failed: ${result.kind}`);
  }
}

/** Appends through the adapter, retrying while the writer's connection recovers from the restart. */
async function appendTicks(store: EventStore, stream: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    for (let attempt = 0; ; attempt++) {
      try {
        await store.append(stream, [{ id: randomUUID(), type: 'tick', data: { i } }]);
        break;
      } catch (error) {
        if (!isTransientError(error) || attempt > 50) throw error;
        await sleep(50);
      }
    }
  }
}

class Pull {
  readonly events: RecordedEvent[] = [];
  caughtUp = 0;
  readonly #it: AsyncIterator<SubscriptionItem>;
  constructor(iterable: AsyncIterable<SubscriptionItem>) {
    this.#it = iterable[Symbol.asyncIterator]();
  }
  /** Pulls until `count` events in total have arrived (10 s at most). */
  until(count: number): Promise<void> {
    return this.#pull(() => this.events.length >= count, `${count} events`);
  }

  untilCaughtUp(): Promise<void> {
    return this.#pull(() => this.caughtUp > 0, 'caught_up');
  }

  async #pull(done: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!done()) {
      const timeout = sleep(Math.max(1, deadline - Date.now())).then(() => 'timeout' as const);
      const r = await Promise.race([this.#it.next(), timeout]);
      if (r === 'timeout') throw new Error(`no ${what} after ${this.events.length} events`);
      if (r.done) throw new Error('subscription ended');
      if (r.value.kind === 'caught_up') this.caughtUp++;
      else this.events.push(r.value.event);
    }
  }
}

test('a subscriber survives two node restarts and sees every event exactly once', async (t) => {
  const double = await startEsdbDouble();
  const retries: RetryInfo[] = [];
  const reader = await openEsdbEventStore({
    connectionString: double.connectionString,
    pageSize: PAGE,
    backoff: { initialMs: 50, maxMs: 400 },
    onSubscriptionRetry: (info) => retries.push(info),
  });
  const writer = await openEsdbEventStore({ connectionString: double.connectionString });
  t.teardown(async () => {
    await reader.close();
    await writer.close();
    await double.stop();
  });
  const prefix = `job-${randomUUID().slice(0, 8)}-`;
  const [a, b] = [`${prefix}a`, `${prefix}b`];
  await appendTicks(writer, a, 20);
  await appendTicks(writer, b, 20);
  await appendTicks(writer, `other-${prefix}`, 5);

  const all = new Pull(reader.subscribeToAll({ filter: { streamNamePrefix: [prefix] } }));
  const one = new Pull(reader.subscribeToStream(a));

  // 1. Mid-history: a few pages read, the rest not yet.
  await all.until(12);
  await one.until(5);
  t.is(all.caughtUp + one.caughtUp, 0);
  await double.stop();
  writeWhileDown(double, a, 3);
  writeWhileDown(double, b, 3);
  await sleep(300);
  await double.start();
  await all.until(46);
  await one.until(23);
  await all.untilCaughtUp();
  await one.untilCaughtUp();
  t.is(all.caughtUp, 1);
  t.is(one.caughtUp, 1);

  // 2. Live: events that arrive after caught_up, then a crash, then more.
  await appendTicks(writer, a, 5);
  await appendTicks(writer, b, 5);
  await all.until(56);
  await one.until(28);
  await double.stop();
  writeWhileDown(double, a, 4);
  await sleep(300);
  await double.start();
  await appendTicks(writer, b, 4);
  await appendTicks(writer, a, 2);
  await all.until(66);
  await one.until(34);

  const expected: RecordedEvent[] = [];
  for await (const e of writer.readAll({ filter: { streamNamePrefix: [prefix] } })) expected.push(e);
  t.is(expected.length, 66);
  t.deepEqual(
    all.events.map((e) => e.id),
    expected.map((e) => e.id),
  );
  t.deepEqual(
    one.events.map((e) => e.revision),
    Array.from({ length: 34 }, (_, i) => i),
  );
  t.is(all.caughtUp, 1);
  t.is(one.caughtUp, 1);
  t.true(retries.length >= 2, `resubscribed ${retries.length} times`);
  t.true(retries.every((r) => r.delayMs <= 400));
});
