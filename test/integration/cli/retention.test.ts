import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { Metrics } from '../../../src/api/metrics.ts';
import { createLogger } from '../../../src/infra/logging/logger.ts';
import type { ReadModel } from '../../../src/projections/index.ts';
import { scheduleRetentionSweep } from '../../../src/retention/retentionSweep.ts';
import { advance, cliWorld, runCli, settle } from '../../helpers/cli.ts';

/**
 * Retention with an injected clock: the server stamps commands with `now`, which the test moves back in
 * time to make jobs end 35, 31 and 29 days before T0; the sweep runs as of T0.
 */
// In the past: a real sweep may not run as of a time later than the clock's.
const T0 = Date.parse('2026-07-31T12:00:00.000Z');
const DAY = 86_400_000;

async function agedWorld(storage: { retention_action?: 'delete' | 'archive' } = {}) {
  let now = T0;
  const world = await cliWorld({ storage }, { clock: () => new Date(now) });
  await world.start();
  const at = async (daysAgo: number, job: string, to: Parameters<typeof advance>[2]) => {
    now = T0 - daysAgo * DAY;
    await advance(world, job, to);
  };
  await at(40, 'r-running', 'running'); // started 40 days ago, never ended
  await at(60, 'r-queued', 'created');
  await at(35, 'r-canceled-35', 'canceled');
  await at(31, 'r-done-31', 'completed');
  await at(29, 'r-done-29', 'completed');
  now = T0;
  await settle(world);
  return world;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

test('retention run: jobs ended 31 and 35 days ago are swept; one ended 29 days ago and unfinished jobs are kept', async (t) => {
  const world = await agedWorld();
  t.teardown(() => world.cleanup());
  const runs = world.config.storage.runs_dir;
  const now = new Date(T0).toISOString();

  const dry = await runCli(world.local('retention', 'run', '--dry-run', '--now', now, '--json'));
  t.is(dry.code, 0, dry.stderr);
  const plan = JSON.parse(dry.stdout);
  t.deepEqual(
    plan.swept.map((j: { job_id: string }) => j.job_id),
    ['r-canceled-35', 'r-done-31'],
  );
  t.like(plan, {
    dry_run: true,
    action: 'delete',
    kept_active: 2,
    kept_recent: 1,
    cutoff: '2026-07-01T12:00:00.000Z',
  });
  t.true(await exists(join(runs, 'r-done-31', 'events.jsonl')), 'a dry run changes nothing');
  t.is((await world.api('/jobs/r-done-31')).status, 200);

  // a real sweep as of a later time than the clock's would retire jobs that just ended: refused
  const ahead = new Date(Date.now() + DAY).toISOString();
  const refused = await runCli(world.local('retention', 'run', '--now', ahead));
  t.is(refused.code, 2, refused.stderr);
  t.regex(refused.stderr, /--now later than the current time is for --dry-run only/);
  t.is((await world.api('/jobs/r-done-31')).status, 200, 'nothing swept');
  const run = await runCli(world.local('retention', 'run', '--now', now));
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /^JOB\s+STATUS\s+FINISHED\s+ARCHIVE$/m);
  t.regex(run.stdout, /^r-done-31\s+completed\s+2026-06-30T12:00:00\.000Z\s+-$/m);
  t.regex(
    run.stdout,
    /retention: delete 2 job\(s\) that ended before 2026-07-01T12:00:00\.000Z \(30 days\); kept 2 not ended, 1 ended since\n$/,
  );
  for (const gone of ['r-canceled-35', 'r-done-31']) {
    t.false(await exists(join(runs, gone)), `runs/${gone} removed`);
    t.is((await world.api(`/jobs/${gone}`)).status, 404, `${gone} gone from the read model`);
    const exported = await runCli(world.local('events', 'export', '--from', '0', '--job', gone));
    t.is(exported.stdout, '', `${gone}'s stream is deleted`);
  }
  for (const kept of ['r-running', 'r-queued', 'r-done-29']) {
    t.true(await exists(join(runs, kept, 'events.jsonl')), `runs/${kept} kept`);
    t.is((await world.api(`/jobs/${kept}`)).status, 200);
  }
  t.like(await (await world.api('/jobs/r-running')).json(), { status: 'running' });
  const verify = await runCli(world.local('projections', 'verify'));
  t.is(verify.code, 0, verify.stdout);
  t.regex(verify.stdout, /^verify: clean \(3 jobs/);
  const again = JSON.parse((await runCli(world.local('retention', 'run', '--now', now, '--json'))).stdout);
  t.deepEqual(again.swept, [], 'a second sweep finds nothing');
  const later = JSON.parse(
    (
      await runCli(
        world.local('retention', 'run', '--dry-run', '--json', '--now', new Date(T0 + 2 * DAY).toISOString()),
      )
    ).stdout,
  );
  t.deepEqual(
    later.swept.map((j: { job_id: string }) => j.job_id),
    ['r-done-29'],
    'two days later the 29-day-old job is due',
  );
});

test('retention with archive: the run dir becomes runs/_archive/<id>.tar.gz that tar restores; the server sweep reports to the log and /metrics', async (t) => {
  const world = await agedWorld({ retention_action: 'archive' });
  t.teardown(() => world.cleanup());
  const runs = world.config.storage.runs_dir;
  const job = join(runs, 'r-done-31');
  const longName = `${'a-very-long-stage-output-name-'.repeat(5)}.txt`;
  await mkdir(join(job, 'work'), { recursive: true });
  await writeFile(join(job, 'work', longName), 'x'.repeat(1000));
  const originals = {
    events: await readFile(join(job, 'events.jsonl'), 'utf8'),
    state: await readFile(join(job, 'state.json'), 'utf8'),
    gate: await readFile(join(job, 'gates', 'review.json'), 'utf8'),
  };
  const run = await runCli(world.local('retention', 'run', '--now', new Date(T0).toISOString(), '--json'));
  t.is(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  const archive = join(runs, '_archive', 'r-done-31.tar.gz');
  t.deepEqual(
    result.swept.map((j: { archive: string }) => j.archive),
    [join(runs, '_archive', 'r-canceled-35.tar.gz'), archive],
  );
  t.false(await exists(job));
  const exec = promisify(execFile);
  const listing = (await exec('tar', ['-tzf', archive])).stdout.split('\n').filter(Boolean).sort();
  t.deepEqual(listing, [
    'r-done-31/',
    'r-done-31/events.jsonl',
    'r-done-31/gates/',
    'r-done-31/gates/review.json',
    'r-done-31/state.json',
    'r-done-31/work/',
    `r-done-31/work/${longName}`,
  ]);
  const out = await mkdtemp(join(tmpdir(), 'operator-untar-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  await exec('tar', ['-xzf', archive, '-C', out]);
  t.is(await readFile(join(out, 'r-done-31', 'events.jsonl'), 'utf8'), originals.events);
  t.is(await readFile(join(out, 'r-done-31', 'state.json'), 'utf8'), originals.state);
  t.is(await readFile(join(out, 'r-done-31', 'gates', 'review.json'), 'utf8'), originals.gate);
  t.is(await readFile(join(out, 'r-done-31', 'work', longName), 'utf8'), 'x'.repeat(1000));
  const verify = await runCli(world.local('projections', 'verify'));
  t.is(verify.code, 0, verify.stdout);

  // The server's own sweep (daily): wired in, and reporting to the log and /metrics.
  const server = world.server;
  if (!server) throw new Error('no server');
  t.regex(
    await (await fetch(`${world.url}/api/v1/metrics`)).text(),
    /operator_retention_last_sweep_timestamp_seconds/,
  );
  const lines: string[] = [];
  const metrics = new Metrics();
  const sweep = scheduleRetentionSweep({
    config: world.config,
    store: server.deps.store,
    readModelStore: (server.deps.readModel as ReadModel).store,
    logger: createLogger({ level: 'info', destination: { write: (l: string) => lines.push(l) } }),
    registry: metrics.registry,
    clock: () => new Date(T0 + 2 * DAY),
    firstDelayMs: 3_600_000,
  });
  const swept = await sweep.runNow();
  await sweep.stop();
  t.deepEqual(
    swept?.swept.map((j) => j.job_id),
    ['r-done-29'],
  );
  t.regex(await metrics.registry.metrics(), /operator_retention_jobs_swept_total\{action="archive"\} 1/);
  t.true(
    lines.some(
      (l) => l.includes('"msg":"retention sweep: 1 job(s) archived"') && l.includes('"kept_active":2'),
    ),
  );
  t.true(await exists(join(runs, '_archive', 'r-done-29.tar.gz')));
  t.like(await (await world.api('/jobs/r-running')).json(), { status: 'running' });
});

test('a job id used again after the CLI swept it while the server ran: commands on the old job are 404, the new job is a job of its own everywhere', async (t) => {
  const world = await agedWorld();
  t.teardown(() => world.cleanup());
  // The server has every job in its caches (it made them); the sweep runs in another process.
  const run = await runCli(world.local('retention', 'run', '--now', new Date(T0).toISOString()));
  t.is(run.code, 0, run.stderr);
  const post = (path: string, body: unknown = {}) => world.api(path, { method: 'POST', json: body });
  const cancel = await post('/jobs/r-done-31/cancel');
  t.is(cancel.status, 404, await cancel.text());
  const created = await post('/jobs', { id: 'r-done-31' });
  t.is(created.status, 201, await created.clone().text());
  const answer = (await created.json()) as {
    job: { status: string };
    events: { type: string; seq: number }[];
  };
  t.deepEqual(
    answer.events.map((e) => e.type),
    ['job_created'],
  );
  t.is(answer.job.status, 'queued');
  await settle(world);
  const seq = answer.events[0]?.seq as number;
  const state = JSON.parse(
    await readFile(join(world.config.storage.runs_dir, 'r-done-31', 'state.json'), 'utf8'),
  );
  t.like(state, { status: 'queued', seq, event_count: 1, finished_at: null });
  const lines = (await readFile(join(world.config.storage.runs_dir, 'r-done-31', 'events.jsonl'), 'utf8'))
    .split('\n')
    .filter(Boolean);
  t.deepEqual(
    lines.map((l) => JSON.parse(l).type),
    ['job_created'],
  );
  const view = (await (await world.api('/jobs/r-done-31')).json()) as { status: string; event_count: number };
  t.like(view, { status: 'queued', event_count: 1 });
  const verify = await runCli(world.local('projections', 'verify'));
  t.is(verify.code, 0, verify.stdout);
});
