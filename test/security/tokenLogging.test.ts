import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { CliProcess } from '../helpers/cli.ts';

/**
 * No token reaches a log line, in any encoding: the real `operator serve` (JSON logs on stdout, level
 * debug) gets requests that carry tokens in every way a client might send one, right and wrong, then every
 * line it printed is searched for the tokens and their encodings.
 */

const ADMIN = 'adm1n-T0ken-for-log-test-7f3a9c';
const VIEWER = 'v1ewer-T0ken-for-log-test-2b8d1e';

const encodings = (token: string): string[] => [
  token,
  encodeURIComponent(token),
  [...Buffer.from(token)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
  Buffer.from(token).toString('base64'),
  Buffer.from(token).toString('base64url'),
];

/** The line with every run of `%xx` escapes decoded, three times over (a reader may decode any of them). */
function percentDecoded(line: string): string {
  let text = line;
  for (let i = 0; i < 3; i++)
    text = text.replace(/(?:%[0-9a-fA-F]{2})+/g, (run) =>
      Buffer.from(run.replaceAll('%', ''), 'hex').toString('utf8'),
    );
  return text;
}

test('logs: no token in any log line after requests with access_token, access%5Ftoken, ACCESS_TOKEN and headers', async (t) => {
  t.timeout(90_000);
  const dir = await mkdtemp(join(tmpdir(), 'operator-sec-log-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const tokensFile = join(dir, 'tokens.json');
  await writeFile(
    tokensFile,
    JSON.stringify([
      { name: 'root', token: ADMIN, role: 'admin' },
      { name: 'wall', token: VIEWER, role: 'viewer' },
    ]),
  );
  const serve = new CliProcess(['serve'], {
    env: {
      OPERATOR_DATA_DIR: join(dir, 'data'),
      OPERATOR_RUNS_DIR: join(dir, 'runs'),
      OPERATOR_PORT: '0',
      OPERATOR_LOG_LEVEL: 'debug',
      OPERATOR_LOG_FORMAT: 'json',
      OPERATOR_TOKENS_FILE: tokensFile,
    },
  });
  t.teardown(() => {
    serve.child.kill('SIGKILL');
  });
  const listening = /operator listening on (http:\/\/[\d.:]+)/;
  await serve.waitFor((out) => listening.test(out), 30_000);
  const base = `${listening.exec(serve.stdout)?.[1]}/api/v1`;
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  const created = await fetch(`${base}/jobs`, {
    method: 'POST',
    headers: { ...bearer(ADMIN), 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'log-1', pipeline: 'quick' }),
  });
  t.true(created.status < 300);
  const probes: { path: string; headers?: Record<string, string> }[] = [];
  for (const token of [ADMIN, VIEWER]) {
    for (const name of ['access_token', 'access%5Ftoken', 'ACCESS_TOKEN', 'Access-Token', '%61ccess_token'])
      for (const value of [token, encodeURIComponent(token), `${token}x`]) {
        probes.push({ path: `/events/stream?${name}=${value}` });
        probes.push({ path: `/jobs?${name}=${value}` });
        probes.push({ path: `/jobs/log-1/events?after=0&${name}=${value}` });
      }
    probes.push({ path: '/jobs', headers: bearer(token) });
    probes.push({ path: '/jobs', headers: bearer(`${token}-wrong`) });
    probes.push({ path: '/jobs', headers: { authorization: token } });
    probes.push({ path: `/nope/${token}`, headers: bearer(token) });
    probes.push({ path: `/jobs/log-1/events?after=${token}`, headers: bearer(token) });
    // In the path, escaped in other ways: every byte in lower-case hex, one letter only, escaped twice.
    const lower = [...Buffer.from(token)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
    probes.push({ path: `/nope/${lower}` });
    probes.push({ path: `/jobs/${token.slice(0, 5)}%${token.charCodeAt(5).toString(16)}${token.slice(6)}` });
    probes.push({ path: `/nope/${encodeURIComponent(lower)}`, headers: bearer(VIEWER) });
    // base64 and base64url, in the path and in a query value of an innocent name
    for (const form of [Buffer.from(token).toString('base64'), Buffer.from(token).toString('base64url')]) {
      probes.push({ path: `/jobs/${encodeURIComponent(form)}/events` });
      probes.push({ path: `/jobs?cursor=${encodeURIComponent(form)}`, headers: bearer(VIEWER) });
    }
  }
  let streams = 0;
  for (const probe of probes) {
    const controller = new AbortController();
    const res = await fetch(`${base}${probe.path}`, {
      headers: probe.headers ?? {},
      signal: controller.signal,
    });
    if (res.headers.get('content-type')?.startsWith('text/event-stream')) streams += 1;
    controller.abort();
  }
  t.true(streams > 0, 'some probes opened streams with a query token');
  serve.child.kill('SIGTERM');
  const result = await serve.exited;
  t.is(result.code, 0);
  const lines = `${result.stdout}\n${result.stderr}`.split('\n').filter(Boolean);
  t.true(lines.length > probes.length, `a log line per request at least (${lines.length})`);
  const leaks = lines.filter((line) =>
    [ADMIN, VIEWER].some(
      (token) => encodings(token).some((form) => line.includes(form)) || percentDecoded(line).includes(token),
    ),
  );
  t.deepEqual(leaks, [], 'no log line holds a token in any encoding');
});
