import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { logStreamName, toLogEventData } from '../../src/infra/eventstore/stageLogStreams.ts';
import { expectedJobFiles, ReadModelStore, stageLogFile } from '../../src/projections/index.ts';
import { JsonlProjection } from '../../src/projections/jsonlProjection.ts';
import { swapRunFiles } from '../../src/projections/maintenance/swapRunFiles.ts';
import { verifyProjections } from '../../src/projections/maintenance/verifyProjections.ts';
import { StateProjection } from '../../src/projections/stateProjection.ts';
import { allJobEvents, JobTraffic } from '../helpers/jobTraffic.ts';
import { MemoryEventStore } from '../helpers/memoryEventStore.ts';

/**
 * Door: files of the run dir, maintenance side. A stage can put a FIFO, a link or a hard link where
 * `projections verify` and a rebuild's swap read a projection file. A plain read of a FIFO waits for a
 * writer for good (the command would hang); a link would be read through, or kept in place as if it were
 * the file. Verify names each such file as unreadable without reading it; the swap replaces it with the
 * rebuilt file, and the link's target stays as it was.
 */

const execFileP = promisify(execFile);
const JOB = 'planted';

async function tempDir(t: { teardown(fn: () => Promise<void>): void }, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('maintenance reads: verify names a FIFO or link in place of events.jsonl, state.json, a gate file and a stage log as unreadable, at once', async (t) => {
  t.timeout(20_000);
  const dir = await tempDir(t, 'operator-verify-fifo-');
  const store = new MemoryEventStore();
  const readModel = ReadModelStore.open(join(dir, 'data'));
  t.teardown(() => readModel.close());
  const runsDir = join(dir, 'runs');
  await new JobTraffic(store).runPlan(JOB, 'paused');
  const events = await allJobEvents(store);
  const started = events.find((e) => e.type === 'stage_started' && e.stage === 'script');
  if (!started) throw new Error('the plan starts the script stage');
  await store.append(logStreamName(JOB, 'script', started.seq), [
    toLogEventData(
      {
        job_id: JOB,
        stage: 'script',
        attempt: 1,
        started_seq: started.seq,
        offset: 0,
        lines: [{ ts: '2026-11-24T10:00:03.000Z', stream: 'stdout', text: 'hello' }],
      },
      randomUUID(),
    ),
  ]);
  const options = { runsDir, checkpoints: readModel.checkpoints, store };
  await new JsonlProjection(options).apply(events);
  await new StateProjection(options).apply(events);
  // The logs checkpoint below the log record: a missing log file is then no difference.
  await readModel.checkpoints.set('logs', events.at(-1)?.position as string);
  const names = ['jsonl', 'state', 'logs'] as const;
  const clean = await verifyProjections({ store, readModelStore: readModel, runsDir, names: [...names] });
  t.deepEqual(clean.differences, [], 'before the plants: clean');

  const run = join(runsDir, JOB);
  const jsonl = join(run, 'events.jsonl');
  const state = join(run, 'state.json');
  const gates = Object.keys(expectedJobFiles(JOB, events).gates);
  t.true(gates.length > 0, 'the paused job has a gate file');
  const gate = join(run, 'gates', `${gates[0]}.json`);
  const log = stageLogFile(runsDir, JOB, 'script') as string;
  // The link's target holds exactly the right state: read through the link, verify would call it clean.
  const victim = join(dir, 'victim.json');
  await writeFile(victim, await readFile(state));
  await rm(state);
  await symlink(victim, state);
  for (const fifo of [jsonl, gate, log]) {
    await rm(fifo, { force: true });
    await mkdir(dirname(fifo), { recursive: true });
    await execFileP('mkfifo', [fifo]);
  }

  const report = await verifyProjections({ store, readModelStore: readModel, runsDir, names: [...names] });
  const found = report.differences.map((d) => [d.projection, d.kind, d.file]).sort();
  t.deepEqual(
    found,
    [
      ['jsonl', 'unreadable', jsonl],
      ['logs', 'unreadable', log],
      ['state', 'unreadable', gate],
      ['state', 'unreadable', state],
    ].sort(),
  );
  const details = report.differences.map((d) => d.detail).join('\n');
  t.regex(details, /is a symbolic link: not read/);
  t.regex(details, /is not a regular file: not read/);
});

test('maintenance reads: the swap replaces a link, a hard link or a FIFO in place of a live file, even when it holds the rebuilt bytes, and removes those (and directories) under gate names it did not produce; the target is unchanged', async (t) => {
  t.timeout(20_000);
  const dir = await tempDir(t, 'operator-swap-plants-');
  const staging = join(dir, 'staging');
  const runsDir = join(dir, 'runs');
  const from = join(staging, JOB);
  const to = join(runsDir, JOB);
  for (const d of [join(from, 'gates'), join(to, 'gates')]) await mkdir(d, { recursive: true });
  const stateText = '{"seq":3,"status":"running"}\n';
  const jsonlText = '{"seq":0}\n{"seq":1}\n';
  await writeFile(join(from, 'state.json'), stateText);
  await writeFile(join(from, 'events.jsonl'), jsonlText);
  // Empty, as a FIFO's size is: only its type tells them apart.
  await writeFile(join(from, 'gates', 'g.json'), '');

  const outside = join(dir, 'outside');
  await mkdir(outside);
  const linkTarget = join(outside, 'state.json');
  const hardTarget = join(outside, 'events.jsonl');
  await writeFile(linkTarget, stateText);
  await writeFile(hardTarget, jsonlText);
  await symlink(linkTarget, join(to, 'state.json'));
  await link(hardTarget, join(to, 'events.jsonl'));
  await execFileP('mkfifo', [join(to, 'gates', 'g.json')]);
  // Names of gate files the rebuild did not produce, planted in a live job and in a job the log no longer has:
  // the swap removes projection files there, and these are not files to keep (the link's target stays).
  await symlink(linkTarget, join(to, 'gates', 'planted.json'));
  await execFileP('mkfifo', [join(to, 'gates', 'pipe.json')]);
  await mkdir(join(to, 'gates', 'made.json', 'inside'), { recursive: true });
  // A link to a directory outside: the link goes, the directory and what it holds stay.
  await symlink(outside, join(to, 'gates', 'outside.json'));
  const gone = join(runsDir, 'gone');
  await mkdir(join(gone, 'gates', 'made.json', 'inside'), { recursive: true });
  await symlink(linkTarget, join(gone, 'gates', 'planted.json'));
  // Directories a stage made under projection file names: in the stale job, and in a live one.
  await mkdir(join(gone, 'events.jsonl', 'inside'), { recursive: true });
  await mkdir(join(staging, 'dirs'), { recursive: true });
  await writeFile(join(staging, 'dirs', 'state.json'), stateText);
  await mkdir(join(runsDir, 'dirs', 'state.json', 'inside'), { recursive: true });
  const before = await Promise.all([stat(linkTarget), stat(hardTarget)]);

  const summary = await swapRunFiles(staging, runsDir, { jsonl: true, state: true });
  t.is(summary.changed, 2, 'both jobs count as changed');
  t.true((await lstat(join(runsDir, 'dirs', 'state.json'))).isFile(), 'the directory gave way to the file');
  t.is(await readFile(join(runsDir, 'dirs', 'state.json'), 'utf8'), stateText);
  t.is(summary.removed, 1, 'the job the log no longer has');
  t.deepEqual((await readdir(join(to, 'gates'))).sort(), ['g.json'], 'the planted gate names are gone');
  await t.throwsAsync(lstat(join(gone, 'gates')), undefined, 'gone from the stale job too, with gates/');
  for (const [name, text] of [
    ['state.json', stateText],
    ['events.jsonl', jsonlText],
    ['gates/g.json', ''],
  ] as const) {
    const stats = await lstat(join(to, name));
    t.true(stats.isFile() && stats.nlink === 1, `${name} is a plain file with one name`);
    t.is(await readFile(join(to, name), 'utf8'), text, name);
  }
  t.is(await readFile(linkTarget, 'utf8'), stateText, 'nothing was removed through the link to a directory');
  t.is(await readFile(hardTarget, 'utf8'), jsonlText);
  const after = await Promise.all([stat(linkTarget), stat(hardTarget)]);
  t.is(after[0].mtimeMs, before[0].mtimeMs);
  t.is(after[1].mtimeMs, before[1].mtimeMs);
  t.is(after[1].nlink, 1, 'the hard link is gone from the run dir');
});
