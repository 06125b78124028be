import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import type { JobEvent } from '../../../src/domain/events.ts';
import { isAlive, typesOf, waitFor, waitGone } from '../../helpers/runnerHarness.ts';
import { type ServeChild, serveChild as serve, writeServeConfig } from '../../helpers/serveChild.ts';

type ChildServer = ServeChild;

async function eventsOf(server: ChildServer, jobId: string): Promise<JobEvent[]> {
  const res = await server.api(`/jobs/${jobId}/events?after=-1&limit=1000`);
  return ((await res.json()) as { events: JobEvent[] }).events;
}

function until(server: ChildServer, jobId: string, what: string, done: (events: JobEvent[]) => boolean) {
  return waitFor(`${what} (${jobId})`, async () => {
    const events = await eventsOf(server, jobId);
    return done(events) ? events : undefined;
  });
}

async function createJob(server: ChildServer, pipeline: string): Promise<string> {
  const res = await server.api('/jobs', { method: 'POST', json: { pipeline } });
  return ((await res.json()) as { job: { job_id: string } }).job.job_id;
}

async function pidsInLog(server: ChildServer, jobId: string, stage: string): Promise<number[]> {
  const res = await server.api(`/jobs/${jobId}/stages/${stage}/log`);
  if (!res.ok) return [];
  return [...(await res.text()).matchAll(/ stdout pid (\d+)$/gm)].map((m) => Number(m[1]));
}

/** Never two attempts of a stage at once: every stage_started is closed by its end before the next one. */
function attemptsNeverOverlap(events: JobEvent[]): boolean {
  let open: string | null = null;
  for (const e of events) {
    if (e.type === 'stage_started') {
      if (open !== null) return false;
      open = e.stage;
    } else if (['stage_completed', 'stage_failed', 'job_failed', 'job_canceled'].includes(e.type))
      open = null;
  }
  return true;
}

test('kill -9 mid-stage and mid-gate: after a restart the orphan is ended and retried, the missed deadline fires once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'operator-restart-'));
  const configPath = await writeServeConfig(dir, [
    'pipeline: {default: long, lanes: 2, stage_kill_grace: 1s}',
    'pipelines:',
    `  long: {stages: [{name: work, retries: 1, run: 'echo "pid $$"; sleep 30'}]}`,
    '  gated:',
    '    stages:',
    `      - {name: check, run: 'echo checked', gate: {timeout: 3s, on_timeout: approve}}`,
    `      - {name: after, run: 'echo after'}`,
  ]);
  const servers: ChildServer[] = [];
  const pids: number[] = [];
  t.teardown(async () => {
    for (const s of servers) s.child.kill('SIGKILL');
    for (const pid of pids) if (isAlive(pid)) process.kill(-pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  // First life: one job running a long stage, one paused at a gate with a 3 s deadline.
  const first = await serve(configPath);
  servers.push(first);
  const long = await createJob(first, 'long');
  const gated = await createJob(first, 'gated');
  const orphan = await waitFor('the long stage pid', async () => (await pidsInLog(first, long, 'work'))[0]);
  pids.push(orphan);
  const paused = await until(first, gated, 'the gate pause', (e) => e.at(-1)?.type === 'gate_pause');
  const deadline = Date.parse(paused.at(-1)?.payload['deadline'] as string);

  first.child.kill('SIGKILL');
  t.is((await first.exited).signal, 'SIGKILL');
  t.true(isAlive(orphan), 'the stage process outlives the killed operator');
  // The deadline passes while the operator is down.
  await sleep(Math.max(0, deadline - Date.now()) + 300);

  // Second life: the orphan is ended before its retry starts; the missed deadline fires at start.
  const second = await serve(configPath);
  servers.push(second);
  const retried = await until(
    second,
    long,
    'the retry',
    (e) => e.filter((x) => x.type === 'stage_started').length === 2,
  );
  const failed = retried.find((e) => e.type === 'stage_failed');
  t.like(failed, {
    actor: 'runner',
    payload: { reason: 'operator restarted', will_retry: true, orphan: 'ended', orphan_pgid: orphan },
  });
  t.is(retried.at(-1)?.payload['attempt'], 2);
  t.false(isAlive(orphan), 'the orphan was ended before the retry started');
  const retry = await waitFor('the retry pid', async () => (await pidsInLog(second, long, 'work'))[1]);
  pids.push(retry);
  t.not(retry, orphan);
  t.true(isAlive(retry));
  const log = await (await second.api(`/jobs/${long}/stages/work/log`)).text();
  t.regex(log, new RegExp(`runner operator restarted: ended the orphaned process group ${orphan}`));

  const approvedOnce = await until(
    second,
    gated,
    'the gated job to end',
    (e) => e.at(-1)?.type === 'job_completed',
  );
  t.is(approvedOnce.filter((e) => e.type === 'gate_auto_approved').length, 1);
  t.is(approvedOnce.find((e) => e.type === 'gate_auto_approved')?.actor, 'timer');

  // A clean stop ends the running attempt (nothing written); the next start fails it as an orphan, and with
  // no retry left the job fails. The gate's deadline does not fire a second time.
  second.child.kill('SIGTERM');
  t.is((await second.exited).code, 0);
  t.true(await waitGone(retry, 3000), 'a clean stop ends the stage processes');
  const third = await serve(configPath);
  servers.push(third);
  const finalLong = await until(third, long, 'the long job to end', (e) => e.at(-1)?.type === 'job_failed');
  t.deepEqual(typesOf(finalLong), [
    'job_created',
    'job_started',
    'stage_started',
    'stage_failed',
    'stage_started',
    'stage_failed',
    'job_failed',
  ]);
  t.like(finalLong.at(-2), {
    payload: { reason: 'operator restarted', will_retry: false, orphan: 'no_pid_file' },
  });
  t.true(attemptsNeverOverlap(finalLong));
  await sleep(300);
  const finalGated = await eventsOf(third, gated);
  t.deepEqual(finalGated, approvedOnce, 'nothing more happened to the finished job');
  t.true(attemptsNeverOverlap(finalGated));
  const jobs = (await (await third.api('/jobs')).json()) as { jobs: { job_id: string; status: string }[] };
  t.deepEqual(
    jobs.jobs.map((j) => [j.job_id, j.status]).sort(),
    [
      [gated, 'completed'],
      [long, 'failed'],
    ].sort(),
  );
  third.child.kill('SIGTERM');
  t.is((await third.exited).code, 0);
});

test('a clean stop (SIGTERM) ends what a stage left running that ignores SIGTERM, before the server exits; its pid file goes with it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'operator-stop-'));
  const configPath = await writeServeConfig(dir, [
    'pipeline: {default: stubborn, lanes: 1, stage_kill_grace: 3s}',
    'pipelines:',
    // The command's child ignores SIGTERM; the command itself waits for it (and so ends on SIGTERM).
    `  stubborn: {stages: [{name: work, retries: 1, run: 'sh -c "trap \\"\\" TERM; while :; do sleep 0.2; done" & echo "pid $!"; wait'}]}`,
  ]);
  const pids: number[] = [];
  const server = await serve(configPath);
  t.teardown(async () => {
    server.child.kill('SIGKILL');
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  const job = await createJob(server, 'stubborn');
  const child = await waitFor('the stubborn child', async () => (await pidsInLog(server, job, 'work'))[0]);
  pids.push(child);
  t.true(isAlive(child));
  const pidFile = join(dir, 'runs', job, 'logs', 'work.pid');
  t.true((await stat(pidFile)).isFile(), 'the pid file is there while the stage runs');
  const stopped = Date.now();
  server.child.kill('SIGTERM');
  t.is((await server.exited).code, 0);
  t.false(isAlive(child), 'ended (SIGKILL after the grace) before the server exited');
  t.true(Date.now() - stopped >= 3000, 'the server waited out the grace');
  await t.throwsAsync(stat(pidFile), { code: 'ENOENT' });
});
