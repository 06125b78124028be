import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { parse } from 'yaml';
import { loadConfig } from '../../src/infra/config/loadConfig.ts';
import { CliProcess, ROOT, runCli } from '../helpers/cli.ts';
import { startTestServer } from '../helpers/testServer.ts';

/**
 * Doors of the bind and the tokens: a default start listens on loopback only, a non-loopback bind with a
 * guessable token refuses to start, tokens can come from the environment or a file, and the container
 * files publish nothing to the network by default.
 */

const SEED = 'default-admin-token-change-me';
const STRONG = 'Zq4m9T2vX7pL0sR8wK3nB6yH1cF5dJ';

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'operator-sec-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const serveEnv = (dir: string, extra: Record<string, string> = {}) => ({
  OPERATOR_DATA_DIR: join(dir, 'data'),
  OPERATOR_RUNS_DIR: join(dir, 'runs'),
  OPERATOR_PORT: '0',
  ...extra,
});

test('bind: the default server.host is 127.0.0.1, in the schema and in the shipped conf/operator.yaml', (t) => {
  const dir = tmpdir();
  t.is(loadConfig({ path: join(ROOT, 'conf/operator.yaml'), env: {} }).server.host, '127.0.0.1');
  t.is(loadConfig({ cwd: dir, env: {} }).server.host, '127.0.0.1', 'no config file at all');
});

test('bind: the seed token on 0.0.0.0 refuses to start with exit 2 and says what to set', async (t) => {
  const dir = await tempDir(t);
  const result = await runCli(['serve'], { env: serveEnv(dir, { OPERATOR_HOST: '0.0.0.0' }) });
  t.is(result.code, 2);
  t.regex(result.stderr, /public seed token/);
  t.regex(result.stderr, /OPERATOR_ADMIN_TOKEN/);
  t.regex(result.stderr, /127\.0\.0\.1/);
  t.false(result.stderr.includes(SEED), 'the message does not repeat the token');
});

test('bind: a token under 24 characters on a non-loopback address refuses to start', async (t) => {
  const dir = await tempDir(t);
  for (const host of ['0.0.0.0', '::', '192.168.1.10']) {
    const result = await runCli(['serve'], {
      env: serveEnv(dir, { OPERATOR_HOST: host, OPERATOR_ADMIN_TOKEN: 'only-20-characters-x' }),
    });
    t.is(result.code, 2, host);
    t.regex(result.stderr, /env OPERATOR_ADMIN_TOKEN: .*shorter than 24 characters/, host);
    t.false(result.stderr.includes('only-20-characters-x'), 'the message does not repeat the token');
  }
});

test('bind: loopback spellings keep the seed token usable (npm start on a laptop)', (t) => {
  for (const host of ['127.0.0.1', '127.8.0.1', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'])
    t.notThrows(() => loadConfig({ cwd: tmpdir(), env: { OPERATOR_HOST: host } }), host);
});

test('tokens: OPERATOR_ADMIN_TOKEN replaces the seed token, so 0.0.0.0 starts and only the new token works', async (t) => {
  t.timeout(60_000);
  const dir = await tempDir(t);
  const serve = new CliProcess(['serve'], {
    env: serveEnv(dir, { OPERATOR_HOST: '0.0.0.0', OPERATOR_ADMIN_TOKEN: STRONG }),
  });
  t.teardown(() => {
    serve.child.kill('SIGKILL');
  });
  await serve.waitFor((out) => /operator listening on http:\/\/127\.0\.0\.1:\d+/.test(out), 30_000);
  const port = /operator listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(serve.stdout)?.[1];
  const url = `http://127.0.0.1:${port}/api/v1/me`;
  t.is((await fetch(url, { headers: { authorization: `Bearer ${STRONG}` } })).status, 200);
  t.is((await fetch(url, { headers: { authorization: `Bearer ${SEED}` } })).status, 401);
  serve.child.kill('SIGTERM');
  t.is((await serve.exited).code, 0);
  t.false(serve.stdout.includes(STRONG), 'the token is never logged');
});

test('tokens: OPERATOR_TOKENS_FILE replaces auth.tokens with the roles it lists', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'tokens.yaml');
  await writeFile(
    file,
    `- {name: ops, token: ${STRONG}, role: admin}\n- {name: wall, token: ${STRONG}-viewer, role: viewer}\n`,
  );
  const config = loadConfig({ cwd: dir, env: { OPERATOR_TOKENS_FILE: file, OPERATOR_HOST: '0.0.0.0' } });
  t.deepEqual(
    config.auth.tokens.map((x) => [x.name, x.role]),
    [
      ['ops', 'admin'],
      ['wall', 'viewer'],
    ],
  );
  const missing = t.throws(() =>
    loadConfig({ cwd: dir, env: { OPERATOR_TOKENS_FILE: join(dir, 'nope.yaml') } }),
  );
  t.regex(missing?.message ?? '', /env OPERATOR_TOKENS_FILE: auth\.tokens: cannot read tokens file/);
});

test('tokens: a token named after the timer or the runner, or that no client could send, refuses to start with exit 2', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'tokens.yaml');
  await writeFile(
    file,
    `- {name: timer, token: ${STRONG}, role: operator}\n- {name: wall, token: "${STRONG} x", role: viewer}\n`,
  );
  const result = await runCli(['serve'], { env: serveEnv(dir, { OPERATOR_TOKENS_FILE: file }) });
  t.is(result.code, 2);
  t.regex(result.stderr, /auth\.tokens\[0\]\.name: "timer" is the name of an actor the operator records/);
  t.regex(
    result.stderr,
    /auth\.tokens\[1\]\.token: the token named "wall" has a character a token cannot have/,
  );
  t.false(result.stderr.includes(STRONG), 'the message does not repeat a token');
});

test('compose: the operator is published on 127.0.0.1 only, EventStoreDB not at all, the token comes from the environment', async (t) => {
  const compose = parse(await readFile(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, { ports?: string[]; environment?: Record<string, string> }>;
  };
  const eventstore = compose.services['eventstore'];
  const operator = compose.services['operator'];
  for (const port of eventstore?.ports ?? [])
    t.regex(port, /^127\.0\.0\.1:/, 'EventStoreDB, if published, only on loopback');
  t.true((operator?.ports?.length ?? 0) > 0);
  for (const port of operator?.ports ?? []) t.regex(port, /^127\.0\.0\.1:/);
  t.regex(operator?.environment?.['OPERATOR_ADMIN_TOKEN'] ?? '', /^\$\{OPERATOR_ADMIN_TOKEN:\?/);
  const instructions = (await readFile(join(ROOT, 'Dockerfile'), 'utf8'))
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'));
  for (const line of instructions)
    t.false(
      /^(ENV|ARG)\b.*(TOKEN|default-admin-token)/i.test(line),
      `no token baked into the image: ${line}`,
    );
});

test('Dockerfile: the HEALTHCHECK URL answers 200 on a running server', async (t) => {
  const dockerfile = (await readFile(join(ROOT, 'Dockerfile'), 'utf8')).replace(/\\\n/g, ' ');
  const check = /^HEALTHCHECK[^\n]*/m.exec(dockerfile)?.[0] ?? '';
  const url = /https?:\/\/[^'"\s)]+/.exec(check)?.[0];
  if (!url) return t.fail(`no URL in the HEALTHCHECK: ${check}`);
  const server = await startTestServer();
  t.teardown(() => server.stop());
  const target = new URL(url);
  const res = await fetch(`${server.url}${target.pathname}${target.search}`);
  t.is(res.status, 200, `${target.pathname} on the real server`);
});
