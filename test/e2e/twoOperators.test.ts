import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { JobEvent } from '../../src/domain/events.ts';
import type { EsdbDouble } from '../helpers/esdbDouble/esdbDouble.ts';
import { startEsdbDouble } from '../helpers/esdbDouble/esdbDouble.ts';
import { isAlive, waitFor } from '../helpers/runnerHarness.ts';
import {
  esdbStoreLine,
  oneLeader,
  roleOf,
  type ServeChild,
  serveChild,
  writeServeConfig,
} from '../helpers/serveChild.ts';

/**
 * Issue 6: two `operator serve` processes against one EventStoreDB (the gRPC double). Only the holder of
 * the store lease runs the runner; `kill -9` it and the other takes over within the lease time, fails the
 * interrupted stages ('operator restarted') and retries them; no stage attempt ever runs twice at once.
 * Every stage attempt writes start/end (or stop, on SIGTERM) lines with the operator's name and pid to a
 * shared file, so who ran what when is seen outside the operators too.
 */
const TTL_MS = 2000;
/** The lease's renew and check interval: a third of the TTL. */
const CHECK_MS = Math.floor(TTL_MS / 3);
const STAGE_SECONDS = 3;

type Operator = ServeChild;

interface Setup {
  dir: string;
  shared: string;
  script: string;
  double: EsdbDouble;
}

/** Each operator has its own data and runs dirs; the stage script and the shared file are common. */
function configFor(setup: Setup, name: string): Promise<string> {
  return writeServeConfig(join(setup.dir, name), [
    esdbStoreLine(setup.double.connectionString, TTL_MS),
    'pipeline: {default: slow, lanes: 2, stage_kill_grace: 500ms}',
    'webhooks: {enabled: false}',
    // Stages see only what is passed through: the operator's name is, so the shared file says who ran what.
    'runner: {env_passthrough: [OPERATOR_NAME]}',
    'pipelines:',
    '  slow:',
    '    stages:',
    `      - {name: work, retries: 1, run: 'exec /bin/sh ${setup.script}', env: {SHARED: ${setup.shared}}}`,
  ]);
}

/** `operator serve` in a child process; resolves once it listens. `OPERATOR_NAME` reaches its stages (passed through). */
async function serve(setup: Setup, name: string): Promise<Operator> {
  return serveChild(await configFor(setup, name), { name, env: { OPERATOR_NAME: name } });
}

async function leaseGauge(op: Operator): Promise<number | undefined> {
  const text = await (await op.api('/metrics')).text();
  const match = /^operator_lease_held (\d)$/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

async function eventsOf(op: Operator, jobId: string): Promise<JobEvent[]> {
  const res = await op.api(`/jobs/${jobId}/events?after=-1&limit=1000`);
  return ((await res.json()) as { events: JobEvent[] }).events;
}

async function createJob(op: Operator): Promise<string> {
  const res = await op.api('/jobs', { method: 'POST', json: { pipeline: 'slow' } });
  if (res.status !== 201 && res.status !== 200) throw new Error(`create: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { job: { job_id: string } }).job.job_id;
}

/** One line of the shared file: what an attempt did, in which operator (name, pid), when. */
interface StageLine {
  what: 'start' | 'end' | 'stop';
  operator: string;
  operatorPid: number;
  pid: number;
  job: string;
  attempt: number;
  at: number;
}

async function stageLines(shared: string): Promise<StageLine[]> {
  const text = await readFile(shared, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [what, operator, operatorPid, pid, job, attempt, at] = l.split(' ');
      return {
        what: what as StageLine['what'],
        operator: operator as string,
        operatorPid: Number(operatorPid),
        pid: Number(pid),
        job: job as string,
        attempt: Number(attempt),
        at: Number(at),
      };
    });
}

/** Each attempt as an interval, from its start line to its end or stop line (open: still running). */
function attemptsOf(lines: StageLine[]) {
  const attempts = new Map<string, { start: StageLine; end: StageLine | undefined; starts: number }>();
  for (const l of lines) {
    const key = `${l.job}#${l.attempt}`;
    if (l.what === 'start') {
      const seen = attempts.get(key);
      attempts.set(key, { start: l, end: undefined, starts: (seen?.starts ?? 0) + 1 });
    } else {
      const a = attempts.get(key);
      if (a && a.start.pid === l.pid) a.end = l;
    }
  }
  return [...attempts.values()];
}

/** Never two attempts of a job's stage at once, by the log: every stage_started is closed before the next. */
function startedAttemptsNeverOverlap(events: JobEvent[]): boolean {
  let open = false;
  for (const e of events) {
    if (e.type === 'stage_started') {
      if (open) return false;
      open = true;
    } else if (['stage_completed', 'stage_failed', 'job_failed', 'job_canceled'].includes(e.type))
      open = false;
  }
  return true;
}

const completed = (events: JobEvent[]) => events.at(-1)?.type === 'job_completed';

test('two operators on one EventStoreDB: one runs the runner; kill -9 it and the other takes over, retrying the interrupted stages once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'operator-two-'));
  const double = await startEsdbDouble();
  const setup: Setup = { dir, double, shared: join(dir, 'stages.txt'), script: join(dir, 'stage.sh') };
  await writeFile(
    setup.script,
    [
      // An orphaned attempt's output pipes are broken once its operator is gone: without this the shell dies
      // of SIGPIPE reporting its killed `sleep` before its trap can write the stop line.
      "trap '' PIPE",
      'line() { echo "$1 $OPERATOR_NAME $PPID $$ $JOB_ID $STAGE_ATTEMPT $(date +%s%3N)" >> "$SHARED"; }',
      "trap 'line stop; exit 143' TERM",
      'line start',
      `sleep ${STAGE_SECONDS}`,
      'line end',
    ].join('\n'),
  );
  const operators: Operator[] = [];
  t.teardown(async () => {
    for (const op of operators) op.child.kill('SIGKILL');
    for (const l of await stageLines(setup.shared))
      if (isAlive(l.pid)) {
        try {
          process.kill(-l.pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    await double.stop();
    await rm(dir, { recursive: true, force: true });
  });

  // Two operators start together: exactly one takes the lease.
  const started = await Promise.all([serve(setup, 'a'), serve(setup, 'b')]);
  operators.push(...started);
  const { roles, leader, standby } = await oneLeader(started);
  t.deepEqual([...roles].sort(), ['leader', 'standby']);
  t.is(await leaseGauge(leader), 1);
  t.is(await leaseGauge(standby), 0);

  // Jobs created through the standby: its API and read model serve (read-your-writes), the leader runs them.
  const jobs = [await createJob(standby), await createJob(standby), await createJob(standby)];
  const running = await waitFor(
    'two attempts running',
    async () => {
      const lines = await stageLines(setup.shared);
      return lines.filter((l) => l.what === 'start').length >= 2 ? lines : undefined;
    },
    10_000,
    25,
  );
  t.deepEqual(
    [...new Set(running.map((l) => `${l.operator}:${l.operatorPid}`))],
    [`${leader.name}:${leader.pid}`],
    'only the leader spawns stage commands',
  );
  t.deepEqual(await Promise.all([roleOf(leader), roleOf(standby)]), ['leader', 'standby']);
  const interrupted = running.filter((l) => l.what === 'start').map((l) => l.job);
  t.is(interrupted.length, 2);

  // kill -9 the leader mid-stage: the standby takes over within the lease time plus a check.
  leader.child.kill('SIGKILL');
  const killedAt = Date.now();
  t.is((await leader.exited).signal, 'SIGKILL');
  await waitFor(
    'the takeover',
    async () => ((await roleOf(standby)) === 'leader' ? true : undefined),
    10_000,
    25,
  );
  const takeoverMs = Date.now() - killedAt;
  t.log(`takeover ${takeoverMs} ms after kill -9 (lease ${TTL_MS} ms, check every ${CHECK_MS} ms)`);
  t.true(takeoverMs >= TTL_MS - CHECK_MS - 100, `not before the lease ran out: ${takeoverMs} ms`);
  t.true(takeoverMs <= TTL_MS + CHECK_MS + 1000, `within the lease time plus a check: ${takeoverMs} ms`);
  t.is(await leaseGauge(standby), 1);

  const finals = await Promise.all(
    jobs.map((id) =>
      waitFor(
        `job ${id} completed`,
        async () => {
          const events = await eventsOf(standby, id);
          return completed(events) ? events : undefined;
        },
        25_000,
        100,
      ),
    ),
  );
  for (const [i, events] of finals.entries()) {
    const id = jobs[i] as string;
    t.true(startedAttemptsNeverOverlap(events), `${id}: stage attempts never overlap in the log`);
    const attempts = events.filter((e) => e.type === 'stage_started').map((e) => e.payload['attempt']);
    if (interrupted.includes(id)) {
      t.deepEqual(attempts, [1, 2], `${id}: the interrupted stage is retried once`);
      t.like(
        events.find((e) => e.type === 'stage_failed'),
        { actor: 'runner', payload: { reason: 'operator restarted', will_retry: true } },
        `${id}: failed by the new leader`,
      );
    } else t.deepEqual(attempts, [1], `${id}: a job queued at the kill runs once`);
  }

  // The shared file: each attempt started once; before the kill only the old leader ran stages, after it only
  // the new one; the old leader's attempts were ended (by its reaper) before their retries started.
  const lines = await stageLines(setup.shared);
  t.log(
    lines.map((l) => `${l.what} ${l.operator} ${l.pid} ${l.job} ${l.attempt} ${l.at - killedAt}`).join('\n'),
  );
  const attempts = attemptsOf(lines);
  t.is(attempts.length, 5);
  for (const a of attempts) {
    t.is(a.starts, 1, `${a.start.job}#${a.start.attempt} started once`);
    t.truthy(a.end, `${a.start.job}#${a.start.attempt} ended`);
    const byOld = a.start.at < killedAt;
    t.is(a.start.operator, byOld ? leader.name : standby.name);
    t.is(a.start.operatorPid, byOld ? leader.pid : standby.pid);
    if (byOld) {
      t.is(a.end?.what, 'stop', 'the old leader’s attempt was ended, not left to finish');
      // The reaper has no store: its note is beside the stage's (projected) log, on the old leader's disk.
      const log = await readFile(
        join(dir, leader.name, 'runs', a.start.job, 'logs', 'work.reaper.log'),
        'utf8',
      );
      t.regex(log, new RegExp(` runner operator gone: ended process group ${a.start.pid}\n`));
    } else t.is(a.end?.what, 'end');
    t.false(isAlive(a.start.pid));
  }
  for (const job of jobs) {
    const mine = attempts.filter((a) => a.start.job === job).sort((x, y) => x.start.at - y.start.at);
    for (let i = 1; i < mine.length; i++)
      t.true(
        (mine[i - 1]?.end?.at ?? Number.POSITIVE_INFINITY) <= (mine[i]?.start.at ?? 0),
        `${job}: attempt ${mine[i]?.start.attempt} started after attempt ${mine[i - 1]?.start.attempt} ended`,
      );
  }
  const stops = attempts.filter((a) => a.end?.what === 'stop').map((a) => (a.end as StageLine).at - killedAt);
  t.log(`old leader's attempts ended ${stops.join(', ')} ms after the kill`);

  // A clean stop hands over at the next check: a third operator joins, the leader gets SIGTERM.
  const third = await serve(setup, 'c');
  operators.push(third);
  t.is(await roleOf(third), 'standby');
  standby.child.kill('SIGTERM');
  const stoppedAt = Date.now();
  t.is((await standby.exited).code, 0);
  await waitFor(
    'the handover',
    async () => ((await roleOf(third)) === 'leader' ? true : undefined),
    10_000,
    25,
  );
  const handoverMs = Date.now() - stoppedAt;
  t.log(`handover ${handoverMs} ms after SIGTERM`);
  t.true(handoverMs <= CHECK_MS + 1000, `released, taken at the next check: ${handoverMs} ms`);
});
