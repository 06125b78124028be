import test from 'ava';
import type { Command } from 'commander';
import { buildProgram } from '../../../src/cli/program.ts';
import type { CliWorld } from '../../helpers/cli.ts';
import { advance, cliWorld, runCli } from '../../helpers/cli.ts';
import { TOKENS } from '../../helpers/testServer.ts';

/** The `operator jobs` commands, run as the real binary against a real server on a random port. */
let world: CliWorld;

test.before(async () => {
  world = await cliWorld();
  await world.start();
});

test.after.always(async () => {
  await world?.cleanup();
});

test('operator --help lists every command, and every command has --help with an example', async (t) => {
  const top = await runCli(['--help']);
  t.is(top.code, 0);
  for (const name of ['serve', 'jobs', 'events', 'projections', 'retention', 'store'])
    t.regex(top.stdout, new RegExp(`\\n  ${name}\\b`));
  const leaf = await runCli(['events', 'export', '--help']);
  t.is(leaf.code, 0);
  t.regex(leaf.stdout, /Example:\n\s+\$ operator events export --from 0/);
  // The whole tree, in process (one child per command would cost seconds): the same help text.
  const missing: string[] = [];
  const visit = (command: Command, path: string[]) => {
    let text = '';
    command.configureOutput({ writeOut: (s) => (text += s) });
    command.outputHelp();
    if (!/Example:\n\s+\$ operator /.test(text)) missing.push(path.join(' '));
    for (const sub of command.commands) visit(sub, [...path, sub.name()]);
  };
  visit(await buildProgram(), ['operator']);
  t.deepEqual(missing, []);
});

test('create, list, show, start, approve, reject and cancel a job', async (t) => {
  const created = await runCli(
    world.remote('jobs', 'create', '--id', 'cli-a', '--param', 'topic=cats', '--param', 'n=3'),
  );
  t.is(created.code, 0, created.stderr);
  t.regex(created.stdout, /^created job cli-a \(queued, pipeline external, seq 0\)/);

  const again = await runCli(world.remote('jobs', 'create', '--id', 'cli-a', '--json'));
  t.is(again.code, 0);
  t.deepEqual(JSON.parse(again.stdout).events, [], 'the same id twice gives the existing job');

  const started = await runCli(world.remote('jobs', 'start', 'cli-a'));
  t.is(started.code, 0, started.stderr);
  t.regex(started.stdout, /job cli-a: running.*appended job_started/);

  const shown = await runCli(world.remote('jobs', 'show', 'cli-a', '--json'));
  t.is(shown.code, 0);
  const job = JSON.parse(shown.stdout);
  t.like(job, { job_id: 'cli-a', status: 'running', seq: 1, params: { topic: 'cats', n: 3 } });
  const table = await runCli(world.remote('jobs', 'show', 'cli-a'));
  t.regex(table.stdout, /^status\s+running$/m);

  await advance(world, 'cli-b', 'paused');
  await advance(world, 'cli-c', 'paused');
  const approved = await runCli(world.remote('jobs', 'approve', 'cli-b', '--comment', 'ship it'));
  t.is(approved.code, 0, approved.stderr);
  t.regex(approved.stdout, /appended gate_approved, job_resumed/);
  const rejected = await runCli(
    world.remote('jobs', 'reject', 'cli-c', 'review', '--comment', 'too dark', '--json'),
  );
  t.is(rejected.code, 0, rejected.stderr);
  const rejection = JSON.parse(rejected.stdout);
  t.is(rejection.events[0].type, 'gate_rejected');
  t.is(rejection.events[0].payload.comment, 'too dark');

  const canceled = await runCli(world.remote('jobs', 'cancel', 'cli-a', '--reason', 'wrong input'));
  t.is(canceled.code, 0, canceled.stderr);
  t.regex(canceled.stdout, /job cli-a: canceled/);

  const list = await runCli(world.remote('jobs', 'list', '--json'));
  const ids = JSON.parse(list.stdout).jobs.map((j: { job_id: string }) => j.job_id);
  t.true(['cli-a', 'cli-b', 'cli-c'].every((id) => ids.includes(id)));
  const canceledOnly = await runCli(world.remote('jobs', 'list', '--status', 'canceled'));
  t.regex(canceledOnly.stdout, /^JOB\s+STATUS/);
  t.regex(canceledOnly.stdout, /^cli-a\s+canceled\s+external/m);
  t.notRegex(canceledOnly.stdout, /cli-b/);
  const paged = await runCli(world.remote('jobs', 'list', '--limit', '1', '--all', '--json'));
  t.true(JSON.parse(paged.stdout).jobs.length >= 3, '--all follows the cursor');
});

test('OPERATOR_URL and OPERATOR_TOKEN stand in for --url and --token', async (t) => {
  const res = await runCli(['jobs', 'list', '--json'], {
    env: { OPERATOR_URL: world.url, OPERATOR_TOKEN: TOKENS.viewer },
  });
  t.is(res.code, 0, res.stderr);
  t.true(Array.isArray(JSON.parse(res.stdout).jobs));
});

test('no server: a clear message and exit 1', async (t) => {
  for (const args of [
    ['jobs', 'list'],
    ['jobs', 'show', 'x'],
    ['jobs', 'create'],
    ['jobs', 'approve', 'x', 'g'],
  ]) {
    const res = await runCli([...args, '--url', world.deadUrl]);
    t.is(res.code, 1, args.join(' '));
    t.true(
      res.stderr.startsWith(`operator: cannot reach the operator server at ${world.deadUrl} (ECONNREFUSED)`),
      res.stderr,
    );
    t.regex(res.stderr, /is `operator serve` running\?/);
    t.is(res.stdout, '');
  }
});

test('a wrong token, a role too low, an unknown job and a refused command: clear messages, exit 1', async (t) => {
  const bad = await runCli(['jobs', 'list', '--url', world.url, '--token', 'not-a-real-token']);
  t.is(bad.code, 1);
  t.regex(
    bad.stderr,
    /^operator: the server at http:\/\/127\.0\.0\.1:\d+ refused the token: invalid token\n/,
  );
  t.regex(bad.stderr, /pass --token or set OPERATOR_TOKEN/);
  const viewer = await runCli(['jobs', 'create', '--url', world.url, '--token', TOKENS.viewer]);
  t.is(viewer.code, 1);
  t.regex(viewer.stderr, /^operator: not allowed: role viewer may not do this \(needs operator\)/);
  const unknown = await runCli(world.remote('jobs', 'show', 'no-such-job'));
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /^operator: job no-such-job not found \[not_found\] \(HTTP 404\)/);
  await advance(world, 'cli-done', 'canceled');
  const refused = await runCli(world.remote('jobs', 'start', 'cli-done'));
  t.is(refused.code, 1);
  t.regex(refused.stderr, /\(HTTP 409\)/);
  const notPaused = await runCli(world.remote('jobs', 'approve', 'cli-done'));
  t.is(notPaused.code, 1);
  t.regex(notPaused.stderr, /job cli-done is not paused at a gate \(status canceled\)/);
  const badId = await runCli(world.remote('jobs', 'show', '../etc'));
  t.is(badId.code, 2);
  t.regex(badId.stderr, /job id "\.\.\/etc" must match/);
});
