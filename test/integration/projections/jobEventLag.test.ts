import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { EventStore } from '../../../src/infra/eventstore/eventStore.ts';
import { openLmdbEventStore } from '../../../src/infra/eventstore/lmdb/index.ts';
import { JobEventLag } from '../../../src/projections/index.ts';

/** `n` events in `stream`, appended in one go; returns the position of each. */
async function append(store: EventStore, stream: string, n: number): Promise<string[]> {
  const events = Array.from({ length: n }, (_, i) => ({ id: randomUUID(), type: 'noted', data: { i } }));
  const { position } = await store.append(stream, events);
  const positions: string[] = [];
  for await (const e of store.readAll({ direction: 'backwards', fromPosition: position, maxCount: n }))
    positions.unshift(e.position);
  return positions;
}

/** The lag by brute force: every job event after `checkpoint` up to `head`. */
async function brute(store: EventStore, checkpoint: string | null, head: string): Promise<number> {
  let n = 0;
  for await (const e of store.readAll())
    if (
      e.streamId.startsWith('job-') &&
      (checkpoint === null || BigInt(e.position) > BigInt(checkpoint)) &&
      BigInt(e.position) <= BigInt(head)
    )
      n++;
  return n;
}

test('the lag is counted exactly far past the readiness cap, and stays exact as the checkpoint and the head move', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'operator-lag-'));
  const store = await openLmdbEventStore({ path: join(dir, 'store') });
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const jobPositions: string[] = [];
  // 1500 job events in five jobs, with lease and webhook events between them (not counted).
  for (let i = 0; i < 5; i++) {
    jobPositions.push(...(await append(store, `job-j${i}`, 300)));
    await append(store, 'lease-operator', 40);
    await append(store, `webhooks-ep${i}`, 10);
  }
  const lag = new JobEventLag(store, 1000);
  let head = (await store.headPosition()) as string;
  t.is(await lag.count(null, head), 1500, 'a projection that has applied nothing is 1500 job events behind');
  t.is(await lag.count(null, head), 1500, 'asked again: the same');

  // The projections move on, more events arrive; each answer matches a full count.
  for (const [applied, more] of [
    [100, 200],
    [700, 0],
    [701, 50],
    [1650, 30],
  ] as const) {
    if (more > 0) {
      jobPositions.push(...(await append(store, 'job-late', more)));
      await append(store, 'lease-operator', 5);
    }
    head = (await store.headPosition()) as string;
    const checkpoint = jobPositions[applied - 1] as string;
    const counted = await lag.count(checkpoint, head);
    t.is(counted, await brute(store, checkpoint, head), `checkpoint after ${applied} job events`);
    t.is(counted, jobPositions.length - applied);
  }
  // A rebuild starts over: the checkpoint goes back.
  t.is(await lag.count(null, head), jobPositions.length);
  t.is(await lag.count(jobPositions.at(-1) as string, head), 0, 'caught up');
});
