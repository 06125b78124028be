import { execFile } from 'node:child_process';
import { link, lstat, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { expectedJobFiles, ReadModelStore } from '../../src/projections/index.ts';
import { repairJsonlTail } from '../../src/projections/jsonlTail.ts';
import { StateProjection } from '../../src/projections/stateProjection.ts';
import { allJobEvents, JobTraffic } from '../helpers/jobTraffic.ts';
import { MemoryEventStore } from '../helpers/memoryEventStore.ts';
import { createJob, ended, jobEvents, waitFor, waitForEvents } from '../helpers/runnerHarness.ts';
import { startTestServer } from '../helpers/testServer.ts';

/**
 * Door: files of the run dir, projection side. A stage can replace `runs/<id>/events.jsonl`, `state.json`
 * or the state writer's temp file with a link to a file elsewhere. The projections never write (nor, on a
 * restart's tail repair, truncate) through it: the planted name is removed and the file rewritten from the
 * store, and the link's target stays as it was.
 */

const execFileP = promisify(execFile);

const VICTIM_TEXT = 'server:\n  port: 8008\nnot json at all\n';

async function victimFile(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const outside = await mkdtemp(join(tmpdir(), 'operator-outside-'));
  t.teardown(() => rm(outside, { recursive: true, force: true }));
  const victim = join(outside, 'operator.yaml');
  await writeFile(victim, VICTIM_TEXT);
  return victim;
}

test('projection file links: events.jsonl and state.json swapped for links by a stage are rebuilt; the target is unchanged', async (t) => {
  const victim = await victimFile(t);
  const before = await stat(victim);
  const server = await startTestServer(
    {
      pipeline: { default: 'swap' },
      pipelines: {
        swap: {
          stages: [
            {
              name: 'plant',
              env: { VICTIM: victim },
              // Each link replaces its file in one rename: between an rm and an ln the projections could
              // write the file anew, and the ln would then fail with the file already there.
              run: [
                'ln -s "$VICTIM" ../events.jsonl.planted && mv -f ../events.jsonl.planted ../events.jsonl',
                'ln -sf "$VICTIM" ../state.json.tmp',
                'ln -s "$VICTIM" ../state.json.planted && mv -f ../state.json.planted ../state.json',
              ].join('\n'),
            },
            { name: 'after', run: 'echo after' },
          ],
        },
      },
    },
    { runner: true },
  );
  t.teardown(() => server.stop());
  const jobId = await createJob(server, 'swap');
  await waitForEvents(server, jobId, 'the job to end', ended);
  const events = await jobEvents(server, jobId);
  const run = join(server.config.storage.runs_dir, jobId);
  const jsonl = join(run, 'events.jsonl');
  await waitFor('events.jsonl rebuilt whole', async () => {
    const stats = await lstat(jsonl).catch(() => null);
    if (!stats?.isFile()) return false;
    const seqs = (await readFile(jsonl, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { seq: number }).seq);
    return seqs.length === events.length && seqs.every((s, i) => s === i);
  });
  await waitFor('state.json a file again', async () => (await lstat(join(run, 'state.json'))).isFile());
  t.is(JSON.parse(await readFile(join(run, 'state.json'), 'utf8')).status, 'completed');
  t.is(await readFile(victim, 'utf8'), VICTIM_TEXT);
  t.is((await stat(victim)).mtimeMs, before.mtimeMs);
  t.true(
    server.logLines.some((l) => l.includes('events.jsonl: removed what stood in its place')),
    'the removal is logged',
  );
});

test('projection file links: the tail repair after a restart removes a linked events.jsonl, never truncating its target', async (t) => {
  const victim = await victimFile(t);
  const dir = await mkdtemp(join(tmpdir(), 'operator-tail-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const plant of [symlink, link]) {
    const path = join(dir, 'events.jsonl');
    await plant(victim, path);
    const tail = await repairJsonlTail(path);
    t.false(tail.exists, plant.name);
    t.is(tail.truncatedBytes, 0);
    t.regex(tail.removed ?? '', /events\.jsonl (is a symbolic link|has 2 names)/);
    await t.throwsAsync(lstat(path), undefined, 'the planted name is gone');
    t.is(await readFile(victim, 'utf8'), VICTIM_TEXT, `${plant.name}: the target is not truncated`);
  }
});

test('projection file links: a FIFO a stage puts in place of state.json is not read (it would wait for good): the state is folded from the store and the file written anew', async (t) => {
  t.timeout(20_000);
  const dir = await mkdtemp(join(tmpdir(), 'operator-state-fifo-'));
  const store = new MemoryEventStore();
  const readModel = ReadModelStore.open(join(dir, 'data'));
  t.teardown(async () => {
    await readModel.close();
    await rm(dir, { recursive: true, force: true });
  });
  const runsDir = join(dir, 'runs');
  const options = { runsDir, checkpoints: readModel.checkpoints, store };
  await new JobTraffic(store).runPlan('fifo', 'completed');
  const events = await allJobEvents(store);
  const half = Math.floor(events.length / 2);
  await new StateProjection(options).apply(events.slice(0, half));
  const statePath = join(runsDir, 'fifo', 'state.json');
  await rm(statePath);
  await execFileP('mkfifo', [statePath]);
  // A restart: nothing cached, so the projection looks at state.json before the rest of the job.
  const restarted = new StateProjection(options);
  await restarted.apply(events.slice(half));
  t.true((await lstat(statePath)).isFile());
  t.is(await readFile(statePath, 'utf8'), expectedJobFiles('fifo', events).state as string);
});

test('projection file links: gates/ and the whole run dir swapped for links to directories elsewhere are never written through; the files come back in real directories', async (t) => {
  const outside = await mkdtemp(join(tmpdir(), 'operator-outside-'));
  t.teardown(() => rm(outside, { recursive: true, force: true }));
  const server = await startTestServer(
    {
      pipeline: { default: 'dirswap' },
      pipelines: {
        dirswap: {
          stages: [
            {
              name: 'gates',
              env: { OUT: outside },
              run: 'mkdir -p "$OUT/g" && rm -rf ../gates && ln -s "$OUT/g" ../gates',
              gate: { timeout: '1h' },
            },
            {
              name: 'rundir',
              env: { OUT: outside },
              // After the projections wrote stage_started (the stage prints nothing, and no event of the job comes
              // while it runs): a swap in the middle of a projection's write is the race docs/security.md leaves out
              // of scope, and this test is about the link the next write meets.
              run: 'sleep 0.5; mkdir -p "$OUT/r" && mv "$RUN_DIR" "$RUN_DIR.moved" && ln -s "$OUT/r" "$RUN_DIR"',
            },
          ],
        },
      },
    },
    { runner: true },
  );
  t.teardown(() => server.stop());
  const jobId = await createJob(server, 'dirswap');
  await waitForEvents(server, jobId, 'the gate pause', (e) => e.at(-1)?.type === 'gate_pause');
  const approved = await server.api(`/jobs/${jobId}/gates/gates/approve`, { method: 'POST', json: {} });
  t.is(approved.status, 200);
  await waitForEvents(server, jobId, 'the job to end', ended);
  const events = await jobEvents(server, jobId);
  t.is(events.at(-1)?.type, 'job_completed');
  const run = join(server.config.storage.runs_dir, jobId);
  await waitFor('the run dir and its files back', async () => {
    const [dir, state, jsonl, gate] = await Promise.all(
      [run, join(run, 'state.json'), join(run, 'events.jsonl'), join(run, 'gates', 'gates.json')].map((p) =>
        lstat(p).catch(() => null),
      ),
    );
    if (!dir?.isDirectory() || !state?.isFile() || !jsonl?.isFile() || !gate?.isFile()) return false;
    const lines = (await readFile(join(run, 'events.jsonl'), 'utf8')).split('\n').filter(Boolean);
    return (
      lines.length === events.length &&
      JSON.parse(await readFile(join(run, 'state.json'), 'utf8')).status === 'completed'
    );
  });
  t.true((await lstat(join(run, 'gates'))).isDirectory());
  const leaked = (await execFileP('find', [outside, '-type', 'f'])).stdout.trim();
  t.is(leaked, '', 'nothing was written outside the runs dir');
  // Whichever projection met the link first removed it, and said so.
  t.true(server.logLines.some((l) => l.includes('removed what a stage put in place of')));
});
