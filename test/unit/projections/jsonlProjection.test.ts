import { appendFile, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { JobEvent } from '../../../src/domain/events.ts';
import type { EventStore } from '../../../src/infra/eventstore/eventStore.ts';
import { jobStreamName } from '../../../src/infra/eventstore/eventStore.ts';
import { expectedJobFiles, repairJsonlTail } from '../../../src/projections/index.ts';
import { allJobEvents } from '../../helpers/jobTraffic.ts';
import { harness, readTree } from '../../helpers/projectionHarness.ts';

async function jobEvents(store: EventStore, jobId: string): Promise<JobEvent[]> {
  return (await allJobEvents(store)).filter((e) => e.job_id === jobId);
}

function seqs(jsonl: string): number[] {
  return jsonl
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { seq: number }).seq);
}

test('writes one canonical line per event, in seq order, ending with a newline', async (t) => {
  const h = await harness({ batchSize: 7 });
  t.teardown(h.cleanup);
  await h.traffic.runMany({ jobs: 12, concurrency: 4 });
  await h.settle();
  for (const jobId of ['j00000', 'j00001', 'j00006']) {
    const text = await readFile(join(h.runsDir, jobId, 'events.jsonl'), 'utf8');
    t.is(text, expectedJobFiles(jobId, await jobEvents(h.store, jobId)).jsonl);
    t.true(text.endsWith('\n'));
  }
});

test('a replay from the start appends nothing: same bytes, no duplicate seq', async (t) => {
  const h = await harness({ batchSize: 5 });
  t.teardown(h.cleanup);
  await h.traffic.runMany({ jobs: 10, concurrency: 3 });
  await h.settle();
  const before = await readTree(h.runsDir);
  await h.projections.runner.stop();
  await h.projections.readModelStore.checkpoints.clear('jsonl');
  await h.projections.readModelStore.checkpoints.clear('state');
  await h.reopen({ batchSize: 3 });
  await h.settle();
  const after = await readTree(h.runsDir);
  t.deepEqual(after, before);
  for (const [path, text] of after)
    if (path.endsWith('events.jsonl')) {
      const s = seqs(text);
      t.deepEqual(s, [...s.keys()], path);
    }
});

test('a torn last line is cut off and the event re-appended from the replay', async (t) => {
  const h = await harness();
  t.teardown(h.cleanup);
  await h.traffic.runPlan('torn', 'completed');
  await h.settle();
  const events = await jobEvents(h.store, 'torn');
  const path = join(h.runsDir, 'torn', 'events.jsonl');
  const full = await readFile(path, 'utf8');
  // As after a crash in the middle of the last append: part of the last line, no newline, and the
  // checkpoint still before that event.
  const lastLineStart = full.lastIndexOf('\n', full.length - 2) + 1;
  await truncate(path, lastLineStart + 20);
  await h.projections.runner.stop();
  await h.projections.readModelStore.checkpoints.set('jsonl', (events.at(-2) as JobEvent).position);
  await h.reopen();
  await h.settle();
  t.is(await readFile(path, 'utf8'), full);
});

test('a torn tail is repaired on the next event of that job, without a duplicate', async (t) => {
  const h = await harness();
  t.teardown(h.cleanup);
  await h.traffic.runPlan('later', 'paused');
  await h.settle();
  await h.projections.runner.stop();
  const path = join(h.runsDir, 'later', 'events.jsonl');
  await appendFile(path, '{"id":"half-written","job_id":"lat');
  await h.reopen();
  await h.projections.runner.start();
  await h.traffic.run('later', { type: 'approve_gate', gate: 'storyboard' });
  await h.settle();
  const text = await readFile(path, 'utf8');
  t.is(text, expectedJobFiles('later', await jobEvents(h.store, 'later')).jsonl);
  t.false(text.includes('half-written'));
});

test('a deleted file is rebuilt from the store on the job next event', async (t) => {
  const h = await harness();
  t.teardown(h.cleanup);
  await h.traffic.runPlan('lost', 'paused');
  await h.settle();
  await rm(join(h.runsDir, 'lost', 'events.jsonl'));
  await h.traffic.run('lost', { type: 'approve_gate', gate: 'storyboard' });
  await h.settle();
  const text = await readFile(join(h.runsDir, 'lost', 'events.jsonl'), 'utf8');
  t.is(text, expectedJobFiles('lost', await jobEvents(h.store, 'lost')).jsonl);
});

test('an event whose job id cannot be a path is skipped by the file projections, not by the read model', async (t) => {
  const h = await harness();
  t.teardown(h.cleanup);
  const data = {
    ts: '2026-11-24T10:00:00.000Z',
    stage: null,
    status: 'queued',
    message: '',
    payload: {},
    actor: 'x',
  };
  await h.store.append(jobStreamName('../escape'), [{ id: 'e1', type: 'job_created', data }]);
  await h.traffic.runPlan('fine', 'queued');
  await h.settle();
  const tree = await readTree(h.dir);
  t.false([...tree.keys()].some((p) => p.includes('escape')));
  t.true(tree.has('runs/fine/events.jsonl'));
  t.is(h.projections.readModel.head('../escape'), 0);
  t.true(h.projections.runner.status().every((s) => s.last_error === null));
});

test('repairJsonlTail: missing, empty, whole, torn and garbled ends', async (t) => {
  const h = await harness();
  t.teardown(h.cleanup);
  const path = join(h.dir, 'x.jsonl');
  t.deepEqual(await repairJsonlTail(path), { lastSeq: -1, exists: false, truncatedBytes: 0 });
  await writeFile(path, '');
  t.deepEqual(await repairJsonlTail(path), { lastSeq: -1, exists: true, truncatedBytes: 0 });
  const lines = '{"id":"a","seq":0}\n{"id":"b","seq":1}\n';
  await writeFile(path, lines);
  t.deepEqual(await repairJsonlTail(path), { lastSeq: 1, exists: true, truncatedBytes: 0 });
  await writeFile(path, `${lines}{"id":"c","se`);
  t.deepEqual(await repairJsonlTail(path), { lastSeq: 1, exists: true, truncatedBytes: 13 });
  t.is(await readFile(path, 'utf8'), lines);
  await writeFile(path, `${lines}\0\0\0\0\n{"id"`);
  t.deepEqual(await repairJsonlTail(path), { lastSeq: 1, exists: true, truncatedBytes: 10 });
  t.is(await readFile(path, 'utf8'), lines);
  const long = `{"id":"d","seq":2,"payload":"${'x'.repeat(200_000)}"}\n`;
  await writeFile(path, `${lines}${long}{"torn`);
  t.is((await repairJsonlTail(path)).lastSeq, 2);
  t.is(await readFile(path, 'utf8'), lines + long);
});
