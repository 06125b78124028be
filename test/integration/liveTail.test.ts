import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import { LiveTail } from '../../src/api/sse/liveTail.ts';
import type { WireBatch } from '../../src/api/sse/wireFrames.ts';
import { DEFAULT_WIRE_STYLE } from '../../src/api/sse/wireFrames.ts';
import type { EventData } from '../../src/infra/eventstore/eventStore.ts';
import { jobStreamName } from '../../src/infra/eventstore/eventStore.ts';
import type { LmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';
import { openLmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';

async function openTemp(t: ExecutionContext): Promise<LmdbEventStore> {
  const path = await mkdtemp(join(tmpdir(), 'operator-live-tail-'));
  const store = await openLmdbEventStore({ path });
  t.teardown(async () => {
    await store.close();
    await rm(path, { recursive: true, force: true });
  });
  return store;
}

async function startedTail(t: ExecutionContext, store: LmdbEventStore, ringSize: number): Promise<LiveTail> {
  const tail = new LiveTail(store, { ringSize });
  tail.start();
  t.teardown(() => tail.stop());
  await tail.ready;
  return tail;
}

const stageEvents = (count: number): EventData[] =>
  Array.from({ length: count }, () => ({
    id: randomUUID(),
    type: 'stage_started',
    data: { ts: new Date().toISOString(), status: 'running', actor: 'test', stage: 'work', payload: {} },
  }));

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
}

async function positions(store: LmdbEventStore): Promise<bigint[]> {
  const out: bigint[] = [];
  for await (const e of store.readAll()) out.push(BigInt(e.position));
  return out;
}

test('the ring keeps the last ringSize events: what it dropped is no longer covered, the rest is served in order', async (t) => {
  const store = await openTemp(t);
  const tail = await startedTail(t, store, 5);
  for (let i = 0; i < 4; i++) await store.append(jobStreamName('j'), stageEvents(3));
  const all = await positions(store);
  t.is(all.length, 12);
  await until(() => tail.position() === all[11]);
  t.is(tail.position(), all[11] ?? null);
  t.true(tail.covers(all[6] as bigint));
  t.false(tail.covers(all[5] as bigint));
  t.deepEqual(
    tail.eventsAfter(all[6] as bigint, 100).map((w) => w.positionValue),
    all.slice(7),
  );
  t.deepEqual(
    tail.eventsAfter(all[8] as bigint, 2).map((w) => w.positionValue),
    all.slice(9, 11),
  );
});

test('a follower that keeps up gets the events of one commit as one batch, whose chunk is their frames in order', async (t) => {
  const store = await openTemp(t);
  const tail = await startedTail(t, store, 100);
  const jobBatches: WireBatch[] = [];
  const allBatches: WireBatch[] = [];
  t.true(tail.joinJob('j', { onJobEvents: (batch) => jobBatches.push(batch) }, tail.position() as bigint));
  t.true(tail.joinAll({ onAnyEvents: (batch) => allBatches.push(batch) }, tail.position() as bigint));
  await store.append(jobStreamName('j'), stageEvents(4));
  // Two streams in the same turn: one group commit; job j's follower still sees only job j.
  await Promise.all([
    store.append(jobStreamName('k'), stageEvents(2)),
    store.append(jobStreamName('j'), stageEvents(3), { expectedRevision: 3 }),
  ]);
  const all = await positions(store);
  await until(() => allBatches.reduce((n, b) => n + b.events.length, 0) >= all.length);
  t.deepEqual(
    jobBatches.map((b) => b.events.map((w) => w.event.seq)),
    [
      [0, 1, 2, 3],
      [4, 5, 6],
    ],
  );
  t.true(jobBatches.every((b) => b.isJobRun));
  t.deepEqual(
    allBatches.flatMap((b) => b.events.map((w) => w.positionValue)),
    all,
  );
  t.true(allBatches.length <= 3, `${allBatches.length} batches for 3 appends`);
  for (const batch of [...jobBatches, ...allBatches]) {
    const scope = jobBatches.includes(batch) ? 'job' : 'all';
    t.is(
      batch.chunk(scope, DEFAULT_WIRE_STYLE).toString(),
      batch.events.map((w) => w.frame(scope, DEFAULT_WIRE_STYLE).toString()).join(''),
    );
  }
  const first = jobBatches[0]?.chunk('job', DEFAULT_WIRE_STYLE).toString() ?? '';
  t.deepEqual(
    [...first.matchAll(/^id: (\d+)$/gm)].map((m) => m[1]),
    ['0', '1', '2', '3'],
  );
});
