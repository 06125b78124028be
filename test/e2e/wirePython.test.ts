import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import test from 'ava';
import type { TestServer } from '../helpers/testServer.ts';
import { startTestServer, TOKENS } from '../helpers/testServer.ts';

/**
 * A seed-style client written with Python's standard library only (`test/python/seed_client.py`) runs against
 * a real server. Without python3 the test is skipped on a workstation, but fails in CI (CI=true): CI must
 * have it (`.ci/run` installs it).
 */

const CLIENT = resolve(import.meta.dirname, '../python/seed_client.py');
const hasPython = spawnSync('python3', ['--version']).status === 0;

let server: TestServer | undefined;
test.before(async () => {
  if (hasPython) server = await startTestServer({ streaming: { heartbeat_seconds: 1 } });
});
test.after.always(() => server?.stop());

if (!hasPython && process.env['CI'] !== 'true') {
  test.skip('a seed-style Python client (stdlib only) creates, polls, streams and checks events.jsonl: python3 not found', () => {});
} else {
  test('a seed-style Python client (stdlib only) creates a job, polls with and without since, streams connected, a heartbeat, every event with the alias names and end, gets 204 on reconnect, and finds the same events in events.jsonl', async (t) => {
    t.timeout(60_000);
    if (!hasPython) t.fail('python3 is missing: CI must provide it (see .ci/run)');
    const s = server as TestServer;
    const child = spawn('python3', [CLIENT, s.url, TOKENS.admin, s.config.storage.runs_dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk) => {
      out += chunk;
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    t.log(out.trim().split('\n').slice(-6).join('\n'));
    t.is(code, 0, out);
    t.regex(out, /seed client: all checks passed/);
    t.regex(out, /ok: saw \d+ heartbeat/);
    t.regex(out, /ok: reconnect after the end: 204/);
  });
}
