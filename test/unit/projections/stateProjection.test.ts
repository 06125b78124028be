import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { JobEvent } from '../../../src/domain/events.ts';
import type { EventStore } from '../../../src/infra/eventstore/eventStore.ts';
import type { GateFile, StateFile } from '../../../src/projections/index.ts';
import { expectedJobFiles } from '../../../src/projections/index.ts';
import { allJobEvents } from '../../helpers/jobTraffic.ts';
import { MemoryEventStore } from '../../helpers/memoryEventStore.ts';
import { harness, readTree } from '../../helpers/projectionHarness.ts';

async function jobEvents(store: EventStore, jobId: string): Promise<JobEvent[]> {
  return (await allJobEvents(store)).filter((e) => e.job_id === jobId);
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

test('state.json is the whole folded state with the job id and the seq it reflects', async (t) => {
  const h = await harness();
  t.teardown(h.cleanup);
  await h.traffic.runPlan('done', 'completed');
  await h.traffic.runPlan('waiting', 'paused');
  await h.settle();
  const done = await readJson<StateFile>(join(h.runsDir, 'done', 'state.json'));
  const events = await jobEvents(h.store, 'done');
  t.is(done.job_id, 'done');
  t.is(done.seq, (events.at(-1) as JobEvent).seq);
  t.is(done.status, 'completed');
  t.is(done.event_count, events.length);
  t.deepEqual(
    done.stages.map((s) => [s.name, s.status]),
    [
      ['script', 'completed'],
      ['storyboard', 'completed'],
      ['render', 'completed'],
    ],
  );
  const waiting = await readJson<StateFile>(join(h.runsDir, 'waiting', 'state.json'));
  t.is(waiting.status, 'paused');
  t.is(waiting.paused_gate, 'storyboard');
  t.is(
    await readFile(join(h.runsDir, 'done', 'state.json'), 'utf8'),
    expectedJobFiles('done', events).state as string,
  );
});

test('gate files: written once a gate is reached, with the decision and the seq of the event that made it', async (t) => {
  const h = await harness();
  t.teardown(h.cleanup);
  await h.traffic.runPlan('queued', 'queued');
  await h.traffic.runPlan('paused', 'paused');
  await h.traffic.runPlan('approved', 'completed');
  await h.traffic.runPlan('rerun', 'rerun');
  await h.settle();
  await t.throwsAsync(readdir(join(h.runsDir, 'queued', 'gates')), { code: 'ENOENT' });
  const paused = await readJson<GateFile>(join(h.runsDir, 'paused', 'gates', 'storyboard.json'));
  t.like(paused, { job_id: 'paused', name: 'storyboard', status: 'paused', decided_by: null });
  t.is(paused.seq, (await jobEvents(h.store, 'paused')).find((e) => e.type === 'gate_pause')?.seq as number);
  const approvedEvents = await jobEvents(h.store, 'approved');
  const approved = await readJson<GateFile>(join(h.runsDir, 'approved', 'gates', 'storyboard.json'));
  t.like(approved, { status: 'approved', decided_by: 'alice', comment: 'fine', by_timer: false });
  t.is(approved.seq, approvedEvents.find((e) => e.type === 'gate_approved')?.seq as number);
  const rerun = await readJson<GateFile>(join(h.runsDir, 'rerun', 'gates', 'storyboard.json'));
  t.like(rerun, { status: 'auto_approved', decided_by: 'timer', by_timer: true });
  for (const jobId of ['paused', 'approved', 'rerun']) {
    const expected = expectedJobFiles(jobId, await jobEvents(h.store, jobId));
    t.is(
      await readFile(join(h.runsDir, jobId, 'gates', 'storyboard.json'), 'utf8'),
      expected.gates['storyboard'] as string,
    );
  }
});

test('the files do not depend on how events were batched', async (t) => {
  const store = new MemoryEventStore({ chunkSize: 3 });
  const one = await harness({ store, batchSize: 1 });
  const big = await harness({ store, batchSize: 500 });
  t.teardown(async () => {
    await one.projections.close();
    await big.cleanup();
    await rm(one.dir, { recursive: true, force: true });
  });
  await one.traffic.runMany({ jobs: 21, concurrency: 5 });
  await one.settle();
  await big.settle();
  const a = await readTree(one.runsDir);
  t.deepEqual(await readTree(big.runsDir), a);
  t.is([...a.keys()].filter((p) => p.endsWith('state.json')).length, 21);
});

test('a missing or truncated state.json is rebuilt from the store', async (t) => {
  const h = await harness();
  t.teardown(h.cleanup);
  await h.traffic.runPlan('gone', 'paused');
  await h.traffic.runPlan('cut', 'paused');
  await h.settle();
  await h.projections.runner.stop();
  await rm(join(h.runsDir, 'gone', 'state.json'));
  await rm(join(h.runsDir, 'gone', 'gates'), { recursive: true });
  const cutPath = join(h.runsDir, 'cut', 'state.json');
  await writeFile(cutPath, (await readFile(cutPath, 'utf8')).slice(0, 40));
  await h.reopen();
  await h.projections.runner.start();
  await h.traffic.run('gone', { type: 'approve_gate', gate: 'storyboard' });
  await h.traffic.run('cut', { type: 'reject_gate', gate: 'storyboard', comment: 'no' });
  await h.settle();
  for (const jobId of ['gone', 'cut']) {
    const expected = expectedJobFiles(jobId, await jobEvents(h.store, jobId));
    t.is(await readFile(join(h.runsDir, jobId, 'state.json'), 'utf8'), expected.state as string);
    t.is(
      await readFile(join(h.runsDir, jobId, 'gates', 'storyboard.json'), 'utf8'),
      expected.gates['storyboard'] as string,
    );
  }
});

test('a replay rewrites the same bytes', async (t) => {
  const h = await harness({ batchSize: 4 });
  t.teardown(h.cleanup);
  await h.traffic.runMany({ jobs: 14, concurrency: 4 });
  await h.settle();
  const before = await readTree(h.runsDir);
  await h.projections.runner.stop();
  await h.projections.readModelStore.checkpoints.clear('state');
  await h.reopen({ batchSize: 9 });
  await h.settle();
  t.deepEqual(await readTree(h.runsDir), before);
});
