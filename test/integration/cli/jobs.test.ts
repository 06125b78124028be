import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { Command } from 'commander';
import { buildProgram } from '../../../src/cli/program.ts';
import type { CliWorld } from '../../helpers/cli.ts';
import { advance, CliProcess, cliWorld, runCli } from '../../helpers/cli.ts';
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

test('a usage error (unknown command or option, missing or extra argument, a bad --port) exits 2 and names the help to read; --help exits 0', async (t) => {
  const cases: [string[], RegExp][] = [
    [['bogus'], /^error: unknown command 'bogus'\n/],
    [['jobs', 'list', '--bogus'], /^error: unknown option '--bogus'\n\(see operator jobs list --help\)\n$/],
    [['jobs', 'show', 'a', 'b'], /too many arguments for 'show'[^\n]*\n\(see operator jobs show --help\)\n$/],
    [
      ['events', 'read', '--limit', '3'],
      /^error: unknown option '--limit'\n\(see operator events read --help\)\n$/,
    ],
    [['jobs'], /^Usage: operator jobs \[options\] \[command\]/],
    [['help', 'bogus'], /^Usage: operator \[options\] \[command\]/],
    [['serve', '--port', 'http'], /^operator: --port must be a port number \(0-65535\), got "http"\n$/],
    [['serve', '--port', '65536'], /^operator: --port must be a port number \(0-65535\), got "65536"\n$/],
    [
      ['jobs', 'list', '--limit', '0'],
      /^operator: --limit must be a whole number from 1 to 1000, got "0"\n$/,
    ],
    [['jobs', 'list', '--url', 'ftp://x'], /^operator: --url must be http:\/\/ or https:\/\/ .*got ftp:\n$/],
    [
      ['jobs', 'list', '--url', 'http://u:pw-secret@127.0.0.1:1'],
      /^operator: --url must not hold a user or password/,
    ],
    [
      ['events', 'export', '--from', '100', '--to', '50'],
      /^operator: --to 50 is before --from 100: the range is empty\n$/,
    ],
    [
      ['retention', 'run', '--days', '999999999'],
      /^operator: --days must be a whole number of days from 1 to 36500\n$/,
    ],
  ];
  const results = await Promise.all(cases.map(([args]) => runCli(args)));
  for (const [i, res] of results.entries()) {
    const [args, stderr] = cases[i] as [string[], RegExp];
    t.is(res.code, 2, `operator ${args.join(' ')}: ${res.stderr}`);
    t.regex(res.stderr, stderr, args.join(' '));
    t.is(res.stdout, '', args.join(' '));
    t.false(res.stderr.includes('pw-secret'), 'a password in --url is never printed');
  }
  const helps = await Promise.all(
    [
      ['help', 'jobs'],
      ['jobs', '--help'],
      ['jobs', 'list', '-h'],
    ].map((a) => runCli(a)),
  );
  for (const help of helps) {
    t.is(help.code, 0, help.stderr);
    t.regex(help.stdout, /^Usage: operator jobs/);
  }
});

test('serve on a port another process holds: one line naming it, exit 1, and what it opened is closed again', async (t) => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => holder.close());
  const port = (holder.address() as AddressInfo).port;
  const dir = await mkdtemp(join(tmpdir(), 'operator-port-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const env = { OPERATOR_DATA_DIR: join(dir, 'data'), OPERATOR_RUNS_DIR: join(dir, 'runs') };
  const taken = await runCli(['serve', '--port', String(port)], { env });
  t.is(taken.code, 1, taken.stderr);
  t.regex(
    taken.stderr,
    new RegExp(
      `^operator: cannot listen on 127\\.0\\.0\\.1:${port}: another process holds the port .*\\[port_in_use\\]\\n$`,
    ),
  );
  t.notRegex(taken.stderr, /\n\s+at /, 'no stack trace');
  // The store it opened was closed: the same data dir serves on a free port.
  const serve = new CliProcess(['serve', '--port', '0'], { env });
  t.teardown(() => serve.child.kill('SIGKILL'));
  await serve.waitFor((out) => /operator listening on/.test(out), 30_000);
  serve.child.kill('SIGTERM');
  t.is((await serve.exited).code, 0);
});

test('serve on a data dir another serve uses: refused before it runs anything, exit 1; after a kill -9 of the first, a start takes over at once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'operator-twice-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const env = { OPERATOR_DATA_DIR: join(dir, 'data'), OPERATOR_RUNS_DIR: join(dir, 'runs') };
  const first = new CliProcess(['serve', '--port', '0'], { env });
  t.teardown(() => first.child.kill('SIGKILL'));
  await first.waitFor((out) => /operator listening on/.test(out), 30_000);
  const second = await runCli(['serve', '--port', '0'], { env });
  t.is(second.code, 1, second.stderr);
  t.regex(
    second.stderr,
    new RegExp(
      `^operator: another operator serve \\(pid ${first.child.pid} on \\S+, since \\S+\\) uses the data dir ${env.OPERATOR_DATA_DIR}: stop it first .*\\[data_dir_in_use\\]\\n$`,
    ),
  );
  t.notRegex(second.stderr, /\n\s+at /, 'no stack trace');
  t.is(first.child.exitCode, null, 'the first server still runs');
  // a dead holder's lease is free at once: no wait for store.lease_ttl
  first.child.kill('SIGKILL');
  await first.exited.catch(() => undefined);
  const started = Date.now();
  const third = new CliProcess(['serve', '--port', '0'], { env });
  t.teardown(() => third.child.kill('SIGKILL'));
  await third.waitFor((out) => /operator listening on/.test(out), 30_000);
  t.true(Date.now() - started < 15_000, 'not after the lease time');
  third.child.kill('SIGTERM');
  t.is((await third.exited).code, 0);
});

test('serve that stalled past store.lease_ttl while another took the data dir over stops with exit 1, not 0, so a supervisor restarts it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'operator-stalled-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = join(dir, 'operator.yaml');
  await writeFile(config, 'store:\n  lease_ttl: 1s\n');
  const env = { OPERATOR_DATA_DIR: join(dir, 'data'), OPERATOR_RUNS_DIR: join(dir, 'runs') };
  const args = ['serve', '--port', '0', '--config', config];
  const first = new CliProcess(args, { env });
  t.teardown(() => first.child.kill('SIGKILL'));
  await first.waitFor((out) => /operator listening on/.test(out), 30_000);
  first.child.kill('SIGSTOP');
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const second = new CliProcess(args, { env });
  t.teardown(() => second.child.kill('SIGKILL'));
  await second.waitFor((out) => /operator listening on/.test(out), 30_000);
  first.child.kill('SIGCONT');
  const stopped = await first.exited;
  t.is(stopped.code, 1, stopped.stderr);
  t.regex(stopped.stdout + stopped.stderr, /another process took the data dir lease/);
  t.is(second.child.exitCode, null, 'the second server still runs');
  second.child.kill('SIGTERM');
  t.is((await second.exited).code, 0);
});

test('create, list, show, start, approve, reject and cancel a job', async (t) => {
  // Independent invocations run side by side (each is a process start).
  const [created] = await Promise.all([
    runCli(world.remote('jobs', 'create', '--id', 'cli-a', '--param', 'topic=cats', '--param', 'n=3')),
    advance(world, 'cli-b', 'paused'),
    advance(world, 'cli-c', 'paused'),
  ]);
  t.is(created.code, 0, created.stderr);
  t.regex(created.stdout, /^created job cli-a \(queued, pipeline external, seq 0\)/);

  const [again, started] = await Promise.all([
    runCli(world.remote('jobs', 'create', '--id', 'cli-a', '--json')),
    runCli(world.remote('jobs', 'start', 'cli-a')),
  ]);
  t.is(again.code, 0);
  t.is(JSON.parse(again.stdout).job.job_id, 'cli-a');
  t.deepEqual(JSON.parse(again.stdout).events, [], 'the same id twice gives the existing job');
  t.is(started.code, 0, started.stderr);
  t.regex(started.stdout, /job cli-a: running.*appended job_started/);

  const [shown, table, approved, rejected] = await Promise.all([
    runCli(world.remote('jobs', 'show', 'cli-a', '--json')),
    runCli(world.remote('jobs', 'show', 'cli-a')),
    runCli(world.remote('jobs', 'approve', 'cli-b', '--comment', 'ship it')),
    runCli(world.remote('jobs', 'reject', 'cli-c', 'review', '--comment', 'too dark', '--json')),
  ]);
  t.is(shown.code, 0);
  t.like(JSON.parse(shown.stdout), {
    job_id: 'cli-a',
    status: 'running',
    seq: 1,
    params: { topic: 'cats', n: 3 },
  });
  t.regex(table.stdout, /^status\s+running$/m);
  t.is(approved.code, 0, approved.stderr);
  t.regex(approved.stdout, /appended gate_approved, job_resumed/);
  t.is(rejected.code, 0, rejected.stderr);
  const rejection = JSON.parse(rejected.stdout);
  t.is(rejection.events[0].type, 'gate_rejected');
  t.is(rejection.events[0].payload.comment, 'too dark');

  const canceled = await runCli(world.remote('jobs', 'cancel', 'cli-a', '--reason', 'wrong input'));
  t.is(canceled.code, 0, canceled.stderr);
  t.regex(canceled.stdout, /job cli-a: canceled/);

  const [list, canceledOnly, paged] = await Promise.all([
    runCli(world.remote('jobs', 'list', '--json')),
    runCli(world.remote('jobs', 'list', '--status', 'canceled')),
    runCli(world.remote('jobs', 'list', '--limit', '1', '--all', '--json')),
  ]);
  const ids = JSON.parse(list.stdout).jobs.map((j: { job_id: string }) => j.job_id);
  t.true(['cli-a', 'cli-b', 'cli-c'].every((id) => ids.includes(id)));
  t.regex(canceledOnly.stdout, /^JOB\s+STATUS/);
  t.regex(canceledOnly.stdout, /^cli-a\s+canceled\s+external/m);
  t.notRegex(canceledOnly.stdout, /cli-b/);
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
  const cases = [
    ['jobs', 'list'],
    ['jobs', 'show', 'x'],
    ['jobs', 'create'],
    ['jobs', 'approve', 'x', 'g'],
  ];
  const results = await Promise.all(cases.map((args) => runCli([...args, '--url', world.deadUrl])));
  for (const [i, res] of results.entries()) {
    t.is(res.code, 1, (cases[i] as string[]).join(' '));
    t.true(
      res.stderr.startsWith(`operator: cannot reach the operator server at ${world.deadUrl} (ECONNREFUSED)`),
      res.stderr,
    );
    t.regex(res.stderr, /is `operator serve` running\?/);
    t.is(res.stdout, '');
  }
});

test('a wrong token, a role too low, an unknown job and a refused command: clear messages, exit 1', async (t) => {
  await advance(world, 'cli-done', 'canceled');
  const [bad, viewer, unknown, refused, notPaused, badId] = await Promise.all([
    runCli(['jobs', 'list', '--url', world.url, '--token', 'not-a-real-token']),
    runCli(['jobs', 'create', '--url', world.url, '--token', TOKENS.viewer]),
    runCli(world.remote('jobs', 'show', 'no-such-job')),
    runCli(world.remote('jobs', 'start', 'cli-done')),
    runCli(world.remote('jobs', 'approve', 'cli-done')),
    runCli(world.remote('jobs', 'show', '../etc')),
  ]);
  t.is(bad.code, 1);
  t.regex(
    bad.stderr,
    /^operator: the server at http:\/\/127\.0\.0\.1:\d+ refused the token: invalid token\n/,
  );
  t.regex(bad.stderr, /pass --token or set OPERATOR_TOKEN/);
  t.is(viewer.code, 1);
  t.regex(viewer.stderr, /^operator: not allowed: role viewer may not do this \(needs operator\)/);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /^operator: job no-such-job not found \[not_found\] \(HTTP 404\)/);
  t.is(refused.code, 1);
  t.regex(refused.stderr, /\(HTTP 409\)/);
  t.is(notPaused.code, 1);
  t.regex(notPaused.stderr, /job cli-done is not paused at a gate \(status canceled\)/);
  t.is(badId.code, 2);
  t.regex(badId.stderr, /job id "\.\.\/etc" must match/);
});
