import test from 'ava';
import type { JobEvent } from '../../../src/domain/events.ts';
import type { Projection } from '../../../src/projections/index.ts';
import { comparePositions, ProjectionRunner } from '../../../src/projections/index.ts';
import { JobTraffic } from '../../helpers/jobTraffic.ts';
import { MemoryEventStore } from '../../helpers/memoryEventStore.ts';

/** Keeps what it is fed; fails the first `failures` batches. */
class RecordingProjection implements Projection {
  readonly applied: JobEvent[] = [];
  readonly batches: number[] = [];
  #checkpoint: string | null;

  constructor(
    readonly name: string,
    public failures = 0,
    checkpoint: string | null = null,
    readonly delayMs = 0,
  ) {
    this.#checkpoint = checkpoint;
  }

  async checkpoint(): Promise<string | null> {
    return this.#checkpoint;
  }

  async apply(batch: readonly JobEvent[]): Promise<void> {
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.failures > 0) {
      this.failures--;
      throw new Error(`${this.name} is down`);
    }
    for (const e of batch)
      if (this.#checkpoint === null || comparePositions(e.position, this.#checkpoint) > 0)
        this.applied.push(e);
    this.batches.push(batch.length);
    this.#checkpoint = batch.at(-1)?.position ?? this.#checkpoint;
  }

  async close(): Promise<void> {}
}

async function populated(jobs: number) {
  const store = new MemoryEventStore({ chunkSize: 10 });
  const traffic = new JobTraffic(store);
  await traffic.runMany({ jobs, concurrency: 3 });
  // a stream the runner must ignore
  await store.append('audit-x', [{ id: 'a', type: 'note', data: {} }]);
  return { store, traffic };
}

test('feeds every job event once, in position order, in batches no larger than the batch size', async (t) => {
  const { store } = await populated(20);
  const a = new RecordingProjection('a');
  const b = new RecordingProjection('b');
  const runner = new ProjectionRunner({ store, projections: [a, b], batchSize: 25 });
  const applied: string[] = [];
  runner.on('applied', (position) => applied.push(position));
  const caughtUp = new Promise((resolve) => runner.once('caught_up', resolve));
  await runner.start();
  await caughtUp;
  t.true(runner.caughtUp);
  const head = (await store.headPosition()) as string;
  t.true(await runner.waitForPosition(head, 1000));
  const expected: string[] = [];
  for await (const e of store.readAll({ filter: { streamNamePrefix: ['job-'] } })) expected.push(e.position);
  t.deepEqual(
    a.applied.map((e) => e.position),
    expected,
  );
  t.deepEqual(
    b.applied.map((e) => e.position),
    expected,
  );
  t.true(a.batches.every((n) => n <= 25));
  t.is(applied.at(-1), expected.at(-1));
  t.deepEqual(
    runner.status().map((s) => [s.name, s.checkpoint, s.last_error]),
    [
      ['a', expected.at(-1), null],
      ['b', expected.at(-1), null],
    ],
  );
  await runner.close();
});

test('starts from the lowest checkpoint; each projection skips what it has', async (t) => {
  const { store } = await populated(5);
  const all: string[] = [];
  for await (const e of store.readAll({ filter: { streamNamePrefix: ['job-'] } })) all.push(e.position);
  const ahead = new RecordingProjection('ahead', 0, all[30] as string);
  const behind = new RecordingProjection('behind', 0, all[10] as string);
  const runner = new ProjectionRunner({ store, projections: [ahead, behind] });
  await runner.start();
  t.true(await runner.waitForPosition(all.at(-1) as string, 2000));
  t.deepEqual(
    behind.applied.map((e) => e.position),
    all.slice(11),
  );
  t.deepEqual(
    ahead.applied.map((e) => e.position),
    all.slice(31),
  );
  await runner.close();
});

test('a failing projection is retried on the same batch until it succeeds: nothing skipped, order kept', async (t) => {
  const { store } = await populated(6);
  const first = new RecordingProjection('first');
  const flaky = new RecordingProjection('flaky', 3);
  const runner = new ProjectionRunner({
    store,
    projections: [first, flaky],
    batchSize: 10,
    retry: { minMs: 5, maxMs: 20 },
  });
  const errors: string[] = [];
  runner.on('projection_error', (name) => errors.push(name));
  await runner.start();
  const head = (await store.headPosition()) as string;
  t.true(await runner.waitForPosition(head, 5000));
  t.deepEqual(errors, ['flaky', 'flaky', 'flaky']);
  t.deepEqual(
    flaky.applied.map((e) => e.position),
    first.applied.map((e) => e.position),
  );
  t.is(runner.status()[1]?.last_error, null);
  await runner.close();
});

test('status shows the last error while a projection keeps failing; stop abandons the retry', async (t) => {
  const { store } = await populated(2);
  const broken = new RecordingProjection('broken', Number.POSITIVE_INFINITY);
  const runner = new ProjectionRunner({ store, projections: [broken], retry: { minMs: 5, maxMs: 10 } });
  await runner.start();
  await new Promise((resolve) => runner.once('projection_error', resolve));
  const [status] = runner.status();
  t.is(status?.last_error, 'broken is down');
  t.true((status?.failures ?? 0) >= 1);
  t.is(status?.checkpoint, null);
  t.false(await runner.waitForPosition('0', 20));
  await runner.stop();
  t.false(runner.running);
});

test('follows live appends after catching up; waitForPosition resolves for a new append', async (t) => {
  const { store, traffic } = await populated(3);
  const p = new RecordingProjection('p');
  const runner = new ProjectionRunner({ store, projections: [p] });
  const touched: string[][] = [];
  runner.onApplied((_position, jobIds) => touched.push([...jobIds]));
  await runner.start();
  await new Promise((resolve) => runner.once('caught_up', resolve));
  const { position } = await traffic.run('live', {
    type: 'create_job',
    job_id: 'live',
    pipeline: { name: 'p', stages: [{ name: 's', retries: 0, env: {} }] },
    params: {},
  });
  t.true(await runner.waitForPosition(position, 2000));
  t.is(p.applied.at(-1)?.job_id, 'live');
  t.deepEqual(touched.at(-1), ['live']);
  t.is(await runner.checkpoint(), position);
  await runner.close();
});

test('stop() lets the batch in flight finish', async (t) => {
  const { store } = await populated(4);
  const slow = new RecordingProjection('slow', 0, null, 30);
  const runner = new ProjectionRunner({ store, projections: [slow], batchSize: 5 });
  await runner.start();
  await new Promise((resolve) => setTimeout(resolve, 40));
  await runner.stop();
  t.true(slow.batches.length >= 1);
  const status = runner.status()[0];
  t.is(status?.checkpoint, slow.applied.at(-1)?.position);
  // a restart continues where it stopped
  const again = new ProjectionRunner({ store, projections: [slow], batchSize: 50 });
  await again.start();
  t.true(await again.waitForPosition((await store.headPosition()) as string, 3000));
  const positions = slow.applied.map((e) => e.position);
  t.is(new Set(positions).size, positions.length);
  await again.close();
});

test('a listener that throws does not stop the runner', async (t) => {
  const { store, traffic } = await populated(2);
  const p = new RecordingProjection('p');
  const runner = new ProjectionRunner({ store, projections: [p] });
  runner.onApplied(() => {
    throw new Error('listener bug');
  });
  await runner.start();
  t.true(await runner.waitForPosition((await store.headPosition()) as string, 2000));
  const { position } = await traffic.run('after', {
    type: 'create_job',
    job_id: 'after',
    pipeline: { name: 'p', stages: [{ name: 's', retries: 0, env: {} }] },
    params: {},
  });
  t.true(await runner.waitForPosition(position, 2000));
  t.is(p.applied.at(-1)?.job_id, 'after');
  await runner.close();
});

test('live batches: under a steady stream of commits the next batch waits out the interval and takes all that came; a commit after a quiet spell goes at once; stop() ends the wait', async (t) => {
  const { store, traffic } = await populated(2);
  const p = new RecordingProjection('p');
  // Long enough that the test tells the two cases apart by their batches, not by timing.
  const runner = new ProjectionRunner({ store, projections: [p], liveBatchIntervalMs: 2_000 });
  await runner.start();
  t.true(await runner.waitForPosition((await store.headPosition()) as string, 2_000));
  const create = (jobId: string) =>
    traffic.run(jobId, {
      type: 'create_job',
      job_id: jobId,
      pipeline: { name: 'p', stages: [{ name: 's', retries: 0, env: {} }] },
      params: {},
    });
  const caughtUpBatches = p.batches.length;
  // History was applied well before: the first live commit is applied without waiting for the interval.
  await new Promise((resolve) => setTimeout(resolve, 2_100));
  const first = await create('first');
  t.true(
    await runner.waitForPosition(first.position, 1_500),
    'the first commit after a quiet spell is applied at once',
  );
  // Three commits 100 ms apart, inside the interval: they wait for it, then go as one batch.
  const later: string[] = [];
  for (const jobId of ['second', 'third', 'fourth']) {
    later.push((await create(jobId)).position);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.false(runner.appliedPosition === later.at(-1), 'not applied before the interval ends');
  t.true(await runner.waitForPosition(later.at(-1) as string, 5_000));
  t.deepEqual(p.batches.slice(caughtUpBatches), [1, 3]);
  t.deepEqual(
    p.applied.slice(-4).map((e) => e.job_id),
    ['first', 'second', 'third', 'fourth'],
  );
  // A stop while the runner waits out an interval returns without waiting for it.
  await create('fifth');
  const fifth = await create('sixth');
  t.true(await runner.waitForPosition(fifth.position, 5_000));
  const stopping = Date.now();
  await runner.stop();
  t.true(Date.now() - stopping < 1_500, `stop took ${Date.now() - stopping} ms`);
  await runner.close();
});
