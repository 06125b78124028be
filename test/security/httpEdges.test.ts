import { connect } from 'node:net';
import test from 'ava';
import type { TestServer } from '../helpers/testServer.ts';
import { json, startTestServer, TOKENS } from '../helpers/testServer.ts';

/**
 * Doors at the edge of HTTP: what a client sends that no route reads (a method no route has, a request
 * node's parser refuses, a body cut off, a charset, bytes that are not UTF-8, a date that does not exist)
 * is answered in the one JSON error shape with a 4xx, and never counted or logged as a server fault.
 */

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(() => server?.stop());

interface ErrorBody {
  error: { code: string; message: string };
}

/** One raw request on its own connection; the whole answer as text (the server closes after it). */
function raw(request: string | Buffer, then?: 'abort'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      answer += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
    socket.write(request, () => {
      if (then === 'abort') setTimeout(() => socket.destroy(), 50);
    });
  });
}

const serverErrors = async () => {
  const text = await (await server.api('/metrics')).text();
  return text.split('\n').filter((l) => /^operator_http_request_duration_seconds_count\{.*status="5/.test(l));
};

test('methods no route has (TRACE, PROPFIND), with or without a token: 405 with Allow on a routed path, 404 elsewhere; no 5xx', async (t) => {
  const answer = async (method: string, path: string, token: string | null) => {
    const auth = token ? `Authorization: Bearer ${token}\r\n` : '';
    const text = await raw(
      `${method} /api/v1${path} HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`,
    );
    const head = text.slice(0, text.indexOf('\r\n\r\n'));
    return {
      status: Number(head.split(' ')[1]),
      allow: /\r\nallow: ([^\r]*)/i.exec(head)?.[1] ?? null,
      body: JSON.parse(text.slice(head.length + 4)) as ErrorBody,
    };
  };
  for (const method of ['TRACE', 'PROPFIND', 'LINK']) {
    for (const token of [null, TOKENS.viewer]) {
      const res = await answer(method, '/jobs', token);
      t.is(res.status, 405, `${method} /jobs`);
      t.regex(res.allow ?? '', /GET/);
      t.is(res.body.error.code, 'method_not_allowed');
    }
    const nowhere = await answer(method, '/no-such-route', null);
    t.is(nowhere.status, 404, `${method} /no-such-route`);
    t.is(nowhere.allow, null);
    t.is(nowhere.body.error.code, 'not_found');
  }
  t.deepEqual(await serverErrors(), []);
});

test('requests the HTTP parser refuses get the JSON error shape: headers over the limit 431, a bad Content-Length or method 400', async (t) => {
  const cases: [request: string, status: number, code: string][] = [
    [
      `GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      'headers_too_large',
    ],
    ['POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 400, 'bad_request'],
    ['FOO /api/v1/jobs HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'bad_request'],
    ['GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n', 400, 'bad_request'],
  ];
  for (const [request, status, code] of cases) {
    const answer = await raw(request);
    t.true(answer.startsWith(`HTTP/1.1 ${status} `), answer.slice(0, 40));
    t.regex(answer, /\r\nContent-Type: application\/json/i);
    const requestId = /\r\nX-Request-Id: ([0-9a-f-]{36})\r\n/i.exec(answer)?.[1];
    t.truthy(requestId, answer.slice(0, 200));
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as ErrorBody;
    t.is(body.error.code, code);
    t.is(typeof body.error.message, 'string');
    // the answer's request id names a log line (info: the client's fault), with nothing of the request
    const line = server.logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((r) => r['requestId'] === requestId);
    t.like(line, { level: 30, status, code });
    t.false(JSON.stringify(line).includes('X-Big'), 'nothing of the request is logged');
  }
  // every answered request's log line carries the request id its answer has
  for (const path of ['/jobs', '/no-such-route', '/jobs/nope/events/stream']) {
    const res = await server.api(path, { as: 'viewer' });
    await res.body?.cancel();
    const id = res.headers.get('x-request-id');
    t.truthy(id, path);
    const logged = server.logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((r) => r['msg'] === 'http' && r['requestId'] === id);
    t.like(logged, { status: res.status }, path);
  }
});

test('a client that goes away in the middle of its body is not a server fault: no 5xx counted, nothing logged as an error', async (t) => {
  const before = server.logLines.length;
  for (let i = 0; i < 3; i++)
    await raw(
      'POST /api/v1/jobs?probe=cut HTTP/1.1\r\nHost: x\r\n' +
        `Authorization: Bearer ${TOKENS.operator}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id":`,
      'abort',
    );
  // The server reads on until the close reaches it.
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.deepEqual(await serverErrors(), []);
  const lines = server.logLines.slice(before).map((l) => JSON.parse(l) as { level: number; msg: string });
  t.deepEqual(
    lines.filter((l) => l.level >= 50),
    [],
  );
  // marked by their query: the file's other tests send to /api/v1/jobs at the same time
  const posts = lines.filter(
    (l) => l.msg === 'http' && (l as { query?: { probe?: string } }).query?.probe === 'cut',
  );
  t.is(posts.length, 3, 'each is logged as a request');
});

test('bodies: a charset other than UTF-8 is 415, bytes that are not UTF-8 are 400, a byte order mark is read past', async (t) => {
  const post = (body: string | Buffer, type: string) =>
    server.api('/jobs', {
      method: 'POST',
      body: typeof body === 'string' ? body : new Uint8Array(body),
      headers: { 'content-type': type },
    });
  const latin = Buffer.concat([
    Buffer.from('{"params":{"name":"caf'),
    Buffer.from([0xe9]),
    Buffer.from('"}}'),
  ]);
  const refused = await post(latin, 'application/json; charset=iso-8859-1');
  t.is(refused.status, 415);
  t.is((await json<ErrorBody>(refused)).error.code, 'unsupported_media_type');
  for (const type of ['application/json', 'application/json; charset=utf-8']) {
    const bad = await post(latin, type);
    t.is(bad.status, 400, type);
    t.like(await json<ErrorBody>(bad), {
      error: { code: 'invalid_json', message: 'request body is not valid UTF-8' },
    });
  }
  const bom = await post(
    `\uFEFF${JSON.stringify({ id: 'bom-1', params: { name: 'café' } })}`,
    'application/json; charset="UTF-8"',
  );
  t.is(bom.status, 201);
  const job = await json<{ params: Record<string, unknown> }>(await server.api('/jobs/bom-1'));
  t.deepEqual(job.params, { name: 'café' });
});

test('dates that do not exist (February 31, hour 24) are 400 on a worker report and on since, not another day', async (t) => {
  await server.api('/jobs', { method: 'POST', json: { id: 'dates-1' } });
  await server.api('/jobs/dates-1/start', { method: 'POST', json: {} });
  for (const ts of ['2026-02-31T10:00:00Z', '2026-02-29', '2026-04-31T00:00:00', '2026-11-24T24:00:00Z']) {
    const report = await server.api('/jobs/dates-1/stages/ingest/start', { method: 'POST', json: { ts } });
    t.is(report.status, 400, ts);
    const since = await server.api(`/jobs/dates-1/events?since=${encodeURIComponent(ts)}`);
    t.is(since.status, 400, `since=${ts}`);
  }
  for (const ts of ['2024-02-29T10:00:00Z', '2026-11-24']) {
    const since = await server.api(`/jobs/dates-1/events?since=${encodeURIComponent(ts)}`);
    t.is(since.status, 200, `since=${ts}`);
  }
  const report = await server.api('/jobs/dates-1/stages/ingest/start', {
    method: 'POST',
    json: { ts: '2024-02-29T10:00:00Z' },
  });
  t.is(report.status, 200);
  const { events } = await json<{ events: { payload: Record<string, unknown> }[] }>(report);
  t.is(events[0]?.payload['reported_ts'], '2024-02-29T10:00:00.000Z');
});
