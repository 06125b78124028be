import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';

/**
 * The console of `operator serve` as people and collectors see it: the real CLI in a child process, once
 * under a pseudo-terminal (util-linux `script`) and once with stdout piped, with `server.log_format` left
 * at its default (`auto`).
 */
const root = new URL('../../', import.meta.url).pathname;
const TOKEN = 'console-test-admin-token-0001';
const ESC = String.fromCharCode(27);
const ANSI = new RegExp(`${ESC}\\[[0-9;]*m`);
const ANSI_ALL = new RegExp(ANSI.source, 'g');

interface Served {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  /** Resolves with the output once `pattern` appears in it; rejects after `ms`. */
  waitFor(pattern: RegExp, ms: number): Promise<RegExpExecArray>;
  stop(): Promise<void>;
}

async function writeConfig(dir: string): Promise<string> {
  const file = join(dir, 'operator.yaml');
  await writeFile(
    file,
    [
      'server: {port: 0, host: 127.0.0.1}',
      'auth:',
      `  tokens: [{name: root, token: ${TOKEN}, role: admin}]`,
      `storage: {data_dir: ${join(dir, 'data')}, runs_dir: ${join(dir, 'runs')}}`,
      'pipelines:',
      '  manual: {stages: [{name: ingest}, {name: publish}]}',
      'pipeline: {default: manual}',
      '',
    ].join('\n'),
  );
  return file;
}

function serve(command: string, args: string[], env: NodeJS.ProcessEnv): Served {
  // Its own process group, so a failed test can end `script` and whatever it started.
  const child = spawn(command, args, { cwd: root, env, detached: true });
  let text = '';
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    for (const wake of waiters) wake();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => text,
    waitFor: (pattern, ms) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(text);
          if (!match) return;
          cleanup();
          resolve(match);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no ${pattern} within ${ms} ms; output so far:\n${text}`));
        }, ms);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // A person's Ctrl-C, through the terminal when there is one; SIGTERM otherwise.
      if (command === 'script') child.stdin.write('\u0003');
      else child.kill('SIGTERM');
      const late = setTimeout(() => {
        try {
          process.kill(-(child.pid ?? 0), 'SIGKILL');
        } catch {}
      }, 10_000);
      await exited;
      clearTimeout(late);
    },
  };
}

/** Creates a job (the runner starts it) and starts its first stage as an external worker would. */
async function driveJob(port: number, id: string, waitStarted: () => Promise<unknown>): Promise<void> {
  const call = async (path: string, body: unknown) => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
  };
  await call('/jobs', { id });
  await waitStarted();
  await call(`/jobs/${id}/stages/ingest/start`, {});
}

const LISTENING = /operator listening on http:\/\/127\.0\.0\.1:(\d+)/;

test.serial(
  'on a terminal: readable, coloured lines, [events] as "<job> #<seq> <type> <stage>: <message>"',
  async (t) => {
    t.timeout(90_000);
    const dir = await mkdtemp(join(tmpdir(), 'operator-console-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const config = await writeConfig(dir);
    const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color' };
    for (const key of ['NO_COLOR', 'FORCE_COLOR', 'OPERATOR_LOG_FORMAT', 'OPERATOR_CONFIG']) delete env[key];
    const cmd = `node bin/operator.js serve -c '${config}'`;
    const server = serve('script', ['-qfc', cmd, '/dev/null'], env);
    t.teardown(() => server.stop());

    const port = Number((await server.waitFor(LISTENING, 60_000))[1]);
    await driveJob(port, 'tty-job', () => server.waitFor(/\[events\] tty-job #1 job_started/, 20_000));
    await server.waitFor(/\[events\] tty-job #\d+ stage_started /, 20_000);
    await server.stop();

    const raw = server.output();
    t.true(ANSI.test(raw), 'colours on a terminal that has them');
    const lines = raw
      .replace(ANSI_ALL, '')
      .split(/\r?\n/)
      .map((l) => l.replace(/^\^C/, '')) // the terminal echoes the Ctrl-C that stops the server
      .filter((l) => l.trim() !== '');
    t.false(raw.includes('{"level":'), 'no JSON records on a terminal');
    const timed = /^\[\d\d:\d\d:\d\d\.\d{3}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): \S/;
    for (const line of lines.filter((l) => !l.startsWith(' '))) t.regex(line, timed);
    t.true(lines.some((l) => /INFO: operator listening on http:\/\/127\.0\.0\.1:\d+ \{"port":\d+/.test(l)));
    const created = lines.find((l) => l.includes('[events] tty-job #0 '));
    t.regex(created ?? '', /INFO: \[events\] tty-job #0 job_created: \S.*$/, 'job_created has no stage');
    const withStage = lines.find((l) => /\[events\] tty-job #\d+ stage_started /.test(l));
    t.regex(withStage ?? '', /INFO: \[events\] tty-job #\d+ stage_started ingest: \S.*$/);
    t.false(created?.includes('"job_id"'), 'the mirror does not repeat its fields');
    t.true(
      lines.some((l) => /INFO: operator stopped/.test(l)),
      'the last line before the exit is there',
    );
  },
);

test.serial('piped: JSON lines, the [events] record keeps its fields', async (t) => {
  t.timeout(90_000);
  const dir = await mkdtemp(join(tmpdir(), 'operator-console-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = await writeConfig(dir);
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color' };
  for (const key of ['NO_COLOR', 'FORCE_COLOR', 'OPERATOR_LOG_FORMAT', 'OPERATOR_CONFIG']) delete env[key];
  const server = serve('node', ['bin/operator.js', 'serve', '-c', config], env);
  t.teardown(() => server.stop());

  const port = Number((await server.waitFor(LISTENING, 60_000))[1]);
  await driveJob(port, 'piped-job', () => server.waitFor(/\[events\] piped-job #1 job_started/, 20_000));
  await server.waitFor(/\[events\] piped-job #\d+ stage_started /, 20_000);
  await server.stop();

  const lines = server
    .output()
    .split('\n')
    .filter((l) => l.trim() !== '');
  t.true(lines.length > 3);
  const records = lines.map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      t.fail(`not a JSON line: ${line}`);
      return {};
    }
  });
  t.false(ANSI.test(server.output()), 'no colour codes in JSON');
  const mirror = records.find((r) => String(r['msg']).startsWith('[events] piped-job #0 job_created'));
  t.like(mirror, { level: 30, job_id: 'piped-job', seq: 0, type: 'job_created' });
});
