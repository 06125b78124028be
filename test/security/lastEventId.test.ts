import { connect } from 'node:net';
import test from 'ava';
import type { TestServer } from '../helpers/testServer.ts';
import { json, startTestServer, TOKENS } from '../helpers/testServer.ts';

/** Door: `Last-Event-ID` is validated like `after`; a bad one is a 400 with the error shape, nothing more. */

let server: TestServer;
let jobId: string;

test.before(async () => {
  server = await startTestServer();
  const res = await server.api('/jobs', { method: 'POST', json: { pipeline: 'external' } });
  jobId = (await json<{ job: { job_id: string } }>(res)).job.job_id;
});
test.after.always(() => server?.stop());

const BAD_IDS = ['-5', '99999999999999999999999', 'abc', '1.5', ' 3x'];

/**
 * Sends two requests on one keep-alive socket: the first with the bad header, the second a plain health check.
 * Both answers on the same socket prove the server neither dropped nor poisoned the connection.
 */
function twoOnOneSocket(path: string, lastEventId: string): Promise<string> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(data);
    }, 3000);
    socket.on('data', (chunk) => {
      data += chunk.toString();
      if ((data.match(/HTTP\/1\.1 /g) ?? []).length >= 2 && data.includes('"status"')) {
        clearTimeout(timer);
        socket.end();
        resolve(data);
      }
    });
    socket.on('error', reject);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKENS.viewer}\r\nLast-Event-ID: ${lastEventId}\r\nConnection: keep-alive\r\n\r\n` +
        'GET /api/v1/healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n',
    );
  });
}

for (const scope of ['per-job stream', 'global stream'] as const) {
  test(`Last-Event-ID validated like after (${scope}): -5, 10^23, abc -> 400 with the error shape, no error log, the socket stays usable`, async (t) => {
    const path = scope === 'per-job stream' ? `/api/v1/jobs/${jobId}/events/stream` : '/api/v1/events/stream';
    const logsBefore = server.logLines.length;
    for (const bad of BAD_IDS) {
      const res = await fetch(`${server.url}${path}`, {
        headers: { authorization: `Bearer ${TOKENS.viewer}`, 'last-event-id': bad },
      });
      t.is(res.status, 400, `Last-Event-ID ${JSON.stringify(bad)}`);
      const body = await json<{ error: { code: string; message: string; details?: unknown } }>(res);
      t.is(body.error.code, 'invalid_input');
      t.regex(body.error.message, /Last-Event-ID/);
      t.true(Array.isArray(body.error.details));
      const raw = await twoOnOneSocket(path, bad);
      t.regex(raw, /^HTTP\/1\.1 400 /, 'the first answer is the 400');
      t.regex(raw, /HTTP\/1\.1 200 [\s\S]*"status"/, 'the same socket then answers the next request');
    }
    const errors = server.logLines
      .slice(logsBefore)
      .map((line) => JSON.parse(line) as { level: number; msg: string })
      .filter((r) => r.level >= 50);
    t.deepEqual(errors, [], 'no error log line');
    // The same values as `after` give the same answer.
    const query = scope === 'per-job stream' ? `/jobs/${jobId}/events/stream` : '/events/stream';
    for (const bad of ['-5', '99999999999999999999999', 'abc'])
      t.is((await server.api(`${query}?after=${bad}`, { as: 'viewer' })).status, 400, `after=${bad}`);
  });
}

test('Last-Event-ID validated like after: a good one still resumes (per-job: seq, global: position)', async (t) => {
  const res = await fetch(`${server.url}/api/v1/jobs/${jobId}/events/stream`, {
    headers: { authorization: `Bearer ${TOKENS.viewer}`, 'last-event-id': '-1' },
  });
  t.is(res.status, 200);
  await res.body?.cancel();
  const head = (await server.deps.store.headPosition()) as string;
  const all = await fetch(`${server.url}/api/v1/events/stream`, {
    headers: { authorization: `Bearer ${TOKENS.viewer}`, 'last-event-id': head },
  });
  t.is(all.status, 200, 'the head position resumes');
  await all.body?.cancel();
  // Well formed, but past the head: no id this server gave (another store, a restored backup). Waiting for
  // the log to reach it would hold back everything before, so it is refused, as on a job's stream.
  for (const past of [String(BigInt(head) + 1n), '18446744073709551615']) {
    for (const ask of [
      { path: '/api/v1/events/stream', headers: { 'last-event-id': past } },
      { path: `/api/v1/events/stream?after=${past}`, headers: {} as Record<string, string> },
    ]) {
      const res = await fetch(`${server.url}${ask.path}`, {
        headers: { authorization: `Bearer ${TOKENS.viewer}`, ...ask.headers },
      });
      t.is(res.status, 400, `${ask.path} ${JSON.stringify(ask.headers)}`);
      const body = await json<{ error: { message: string; details: { head: string } } }>(res);
      t.regex(body.error.message, /is past the log's head/);
      t.is(body.error.details.head, head);
    }
  }
});
