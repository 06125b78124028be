import { type ChildProcess, spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { JobEvent } from '../../../src/domain/events.ts';
import { openLmdbEventStore } from '../../../src/infra/eventstore/lmdb/index.ts';
import {
  canonicalJson,
  comparePositions,
  expectedJobFiles,
  expectedReadModelJob,
  READ_MODEL_CHECKPOINT,
  ReadModel,
  ReadModelStore,
} from '../../../src/projections/index.ts';
import { allJobEvents, JobTraffic } from '../../helpers/jobTraffic.ts';
import { generationRows, readTree } from '../../helpers/projectionHarness.ts';

const worker = fileURLToPath(new URL('../../helpers/projectionWorker.ts', import.meta.url));
// About 6,000 events: the four kill rounds (10, 13, 7 and 3 batches of 100 from seed 7, a few more each while
// the kill is on its way) stop within the first 5,000 or so, so the last run still has work.
const JOBS = 700;
const KILL_ROUNDS = 4;
const BATCH = 100;

interface Worker {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first line (seen so far or later) that matches. */
  waitFor(match: (line: string, index: number) => boolean): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

function startWorker(storePath: string, dataDir: string, runsDir: string, batchSize: number): Worker {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', worker, storePath, dataDir, runsDir, String(batchSize)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const lines: string[] = [];
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const waiters: { match: (line: string, index: number) => boolean; resolve: (line: string) => void }[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters])
      if (w.match(line, lines.length - 1)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    lines,
    exited,
    stderr: () => err,
    waitFor(match) {
      const seen = lines.find((l, i) => match(l, i));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        void exited.then(({ code, signal }) =>
          reject(new Error(`worker exited (${code ?? signal}) before the expected line; stderr:\n${err}`)),
        );
      });
    },
  };
}

/**
 * Tears the end of some files as a power loss during an append could: half of the job's next line, no
 * newline. A line missing from a file is above the jsonl checkpoint (files are fsynced before it moves),
 * so the restart replays it: exactly the situation the repair is for.
 */
async function tearSomeFiles(
  runsDir: string,
  byJob: Map<string, JobEvent[]>,
  beyond: string,
  random: () => number,
): Promise<number> {
  let torn = 0;
  const candidates = [...byJob].filter(
    ([, events]) =>
      comparePositions((events[0] as JobEvent).position, beyond) <= 0 &&
      comparePositions((events.at(-1) as JobEvent).position, beyond) > 0,
  );
  for (let i = 0; i < 5 && candidates.length > 0; i++) {
    const [jobId, events] = candidates.splice(Math.floor(random() * candidates.length), 1)[0] as [
      string,
      JobEvent[],
    ];
    let text: string;
    try {
      text = await readFile(join(runsDir, jobId, 'events.jsonl'), 'utf8');
    } catch {
      continue;
    }
    if (!text.endsWith('\n')) continue;
    const next = events[text.split('\n').length - 1];
    if (!next) continue;
    const line = canonicalJson(next);
    await appendFile(join(runsDir, jobId, 'events.jsonl'), line.slice(0, Math.floor(line.length / 2)));
    torn++;
  }
  return torn;
}

test('SIGKILLed runs converge to a fresh rebuild: same files, same read model rows, no duplicate, no torn line', async (t) => {
  t.timeout(240_000);
  const dir = await mkdtemp(join(tmpdir(), 'operator-projections-kill-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const storePath = join(dir, 'store');
  const killed = { data: join(dir, 'killed-data'), runs: join(dir, 'killed-runs') };
  const fresh = { data: join(dir, 'fresh-data'), runs: join(dir, 'fresh-runs') };

  const store = await openLmdbEventStore({ path: storePath });
  await new JobTraffic(store).runMany({ jobs: JOBS, concurrency: 64 });
  const events = await allJobEvents(store);
  const head = (await store.headPosition()) as string;
  await store.close();
  t.true(events.length > 5_500, `${events.length} events`);
  const byJob = new Map<string, JobEvent[]>();
  for (const e of events) byJob.set(e.job_id, [...(byJob.get(e.job_id) ?? []), e]);

  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const startedAt: string[] = [];
  let torn = 0;
  for (let round = 0; round < KILL_ROUNDS; round++) {
    const w = startWorker(storePath, killed.data, killed.runs, BATCH);
    startedAt.push((await w.waitFor((l) => l.startsWith('started '))).slice('started '.length));
    const batches = 3 + Math.floor(random() * 12);
    const appliedBefore = w.lines.filter((l) => l.startsWith('applied ')).length;
    const line = await w.waitFor((l, i) => l.startsWith('applied ') && i >= appliedBefore + batches);
    await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 25)));
    w.child.kill('SIGKILL');
    const { signal } = await w.exited;
    t.is(signal, 'SIGKILL', `round ${round} ended by itself: the kill came too late`);
    // jobs with events on both sides of the last applied batch have a file with lines still to come
    torn += await tearSomeFiles(killed.runs, byJob, line.slice('applied '.length), random);
  }
  t.true(torn > 0, 'some files were torn');

  const last = startWorker(storePath, killed.data, killed.runs, BATCH);
  startedAt.push((await last.waitFor((l) => l.startsWith('started '))).slice('started '.length));
  await last.waitFor((l) => l.startsWith('done '));
  t.is((await last.exited).code, 0, last.stderr());
  // every restart resumed from a durable checkpoint further on, never from the start nor past the end
  t.is(startedAt[0], 'null');
  for (let i = 1; i < startedAt.length; i++) {
    t.not(startedAt[i], 'null');
    t.true(comparePositions(startedAt[i] as string, head) < 0, `round ${i} started at the end`);
    if (i > 1) t.true(comparePositions(startedAt[i] as string, startedAt[i - 1] as string) > 0);
  }

  const rebuild = startWorker(storePath, fresh.data, fresh.runs, 500);
  await rebuild.waitFor((l) => l.startsWith('done '));
  t.is((await rebuild.exited).code, 0, rebuild.stderr());

  // files: identical to the fresh rebuild and to what `verify` computes from the store
  const [killedTree, freshTree] = [await readTree(killed.runs), await readTree(fresh.runs)];
  t.is(freshTree.size, killedTree.size);
  t.deepEqual(
    [...freshTree].filter(([path, text]) => killedTree.get(path) !== text).map(([path]) => path),
    [],
  );
  const expectedMismatch: string[] = [];
  for (const [jobId, jobEvents] of byJob) {
    const expected = expectedJobFiles(jobId, jobEvents);
    if (killedTree.get(`${jobId}/events.jsonl`) !== expected.jsonl)
      expectedMismatch.push(`${jobId}/events.jsonl`);
    if (killedTree.get(`${jobId}/state.json`) !== expected.state)
      expectedMismatch.push(`${jobId}/state.json`);
    for (const [gate, text] of Object.entries(expected.gates))
      if (killedTree.get(`${jobId}/gates/${gate}.json`) !== text)
        expectedMismatch.push(`${jobId}/gates/${gate}`);
  }
  t.deepEqual(expectedMismatch, []);
  let lines = 0;
  for (const [path, text] of killedTree) {
    if (!path.endsWith('events.jsonl')) continue;
    t.true(text.endsWith('\n'), `${path} ends with a torn line`);
    const seqs = text
      .slice(0, -1)
      .split('\n')
      .map((l) => (JSON.parse(l) as { seq: number }).seq);
    t.deepEqual(seqs, [...seqs.keys()], `${path}: duplicate or missing seq`);
    lines += seqs.length;
  }
  t.is(lines, events.length);

  // read model: the same rows in every table, checkpoints at the last job event
  const a = ReadModelStore.open(killed.data);
  const b = ReadModelStore.open(fresh.data);
  try {
    const lastPosition = (events.at(-1) as JobEvent).position;
    for (const s of [a, b]) {
      t.is(s.tables().checkpoints.get(READ_MODEL_CHECKPOINT), lastPosition);
      t.is(s.checkpoints.get('jsonl'), lastPosition);
      t.is(s.checkpoints.get('state'), lastPosition);
    }
    const [rowsA, rowsB] = [generationRows(a.tables()), generationRows(b.tables())];
    for (const table of Object.keys(rowsB)) {
      t.is(rowsA[table]?.length, rowsB[table]?.length, table);
      t.true(
        rowsA[table]?.every((row, i) => row === rowsB[table]?.[i]),
        `table ${table} differs from the fresh rebuild`,
      );
    }
    t.is(rowsA['events']?.length, events.length);
    t.is(rowsA['jobs']?.length, byJob.size);
    // and what `verify` computes from the store
    const readModel = new ReadModel(a);
    const wrong: string[] = [];
    for (const [jobId, jobEvents] of byJob) {
      const expected = expectedReadModelJob(jobId, jobEvents);
      if (JSON.stringify(readModel.getJob(jobId)) !== JSON.stringify(expected?.summary))
        wrong.push(`${jobId} row`);
      if (JSON.stringify(readModel.getJobState(jobId)) !== JSON.stringify(expected?.state))
        wrong.push(`${jobId} state`);
      const page = readModel.jobEvents(jobId, { after: -1, limit: 1000 });
      if (page.events.join('\n') !== expected?.events.join('\n')) wrong.push(`${jobId} events`);
    }
    t.deepEqual(wrong, []);
  } finally {
    await a.close();
    await b.close();
  }
});
