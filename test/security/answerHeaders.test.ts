import { connect } from 'node:net';
import test from 'ava';
import { createJob, ended, waitForEvents } from '../helpers/runnerHarness.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { startTestServer, TOKENS } from '../helpers/testServer.ts';

/**
 * Door: what a browser does with an answer. Every answer of the server, the API's JSON, its errors, a stage
 * log (plain text holding whatever the stage printed, HTML included), the event and log streams, the
 * parser's refusals and the page, says `X-Content-Type-Options: nosniff` (never read as another type) and
 * `Referrer-Policy: no-referrer`; the API's answers are `Cache-Control: no-store` (streams
 * `no-store, no-transform`), the UI's files `no-cache` (revalidated) with a CSP on the page.
 */

const PRINTED = '<script>alert(document.cookie)</script>';

let server: TestServer;
let jobId: string;

test.before(async () => {
  server = await startTestServer(
    {
      pipeline: { default: 'printer' },
      pipelines: { printer: { stages: [{ name: 'print', run: `echo '${PRINTED}'` }] } },
    },
    { runner: true },
  );
  jobId = await createJob(server, 'printer');
  await waitForEvents(server, jobId, 'the job ends', ended, 20_000);
});
test.after.always(() => server?.stop());

function assertApiHeaders(
  t: { is(a: unknown, b: unknown, m?: string): void },
  headers: Headers,
  what: string,
  cacheControl = 'no-store',
): void {
  t.is(headers.get('x-content-type-options'), 'nosniff', what);
  t.is(headers.get('cache-control'), cacheControl, what);
  t.is(headers.get('referrer-policy'), 'no-referrer', what);
}

/** The answer's headers only: a stream is cut once they are in. */
async function headersOf(
  path: string,
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers }> {
  const abort = new AbortController();
  const res = await fetch(`${server.url}${path}`, { ...init, signal: abort.signal });
  abort.abort();
  return { status: res.status, headers: res.headers };
}

const bearer = { authorization: `Bearer ${TOKENS.viewer}` };

test('JSON answers and error answers of the API: nosniff, no-store, no-referrer', async (t) => {
  const answers: [string, Response, number][] = [
    ['a job list', await server.api('/jobs', { as: 'viewer' }), 200],
    ['a job', await server.api(`/jobs/${jobId}`, { as: 'viewer' }), 200],
    ['no token', await server.api('/jobs', { as: null }), 401],
    ['a viewer writing', await server.api('/jobs', { method: 'POST', json: {}, as: 'viewer' }), 403],
    ['an unknown job', await server.api('/jobs/no-such-job', { as: 'viewer' }), 404],
    ['no route', await server.api('/nowhere', { as: 'viewer' }), 404],
    ['a bad query', await server.api('/jobs?limit=-3', { as: 'viewer' }), 400],
    ['a public route', await server.api('/healthz', { as: null }), 200],
  ];
  for (const [what, res, status] of answers) {
    t.is(res.status, status, what);
    t.regex(res.headers.get('content-type') ?? '', /^application\/json/, what);
    assertApiHeaders(t, res.headers, what);
  }
});

test('a stage log (text/plain holding what the stage printed) is never sniffed into HTML', async (t) => {
  const res = await server.api(`/jobs/${jobId}/stages/print/log`, { as: 'viewer' });
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /^text\/plain/);
  t.true((await res.text()).includes(PRINTED));
  assertApiHeaders(t, res.headers, 'the log');
  const follow = await headersOf(`/api/v1/jobs/${jobId}/stages/print/log?follow=1`, { headers: bearer });
  t.is(follow.status, 200);
  assertApiHeaders(t, follow.headers, 'the log, followed', 'no-store, no-transform');
});

test('event streams, served before koa or by it, and their refusals carry the same headers', async (t) => {
  const live: [string, string, RequestInit][] = [
    ['the global stream', '/api/v1/events/stream?after=-1', { headers: bearer }],
    ['a job stream', `/api/v1/jobs/${jobId}/events/stream?after=-1`, { headers: bearer }],
    ['a HEAD (served by koa)', '/api/v1/events/stream', { method: 'HEAD', headers: bearer }],
  ];
  for (const [what, path, init] of live) {
    const { status, headers } = await headersOf(path, init);
    t.is(status, 200, what);
    t.regex(headers.get('content-type') ?? '', /^text\/event-stream/, what);
    assertApiHeaders(t, headers, what, 'no-store, no-transform');
  }
  const refused: [string, string, RequestInit, number][] = [
    ['a stream without a token', '/api/v1/events/stream', {}, 401],
    ['a stream with a bad query', '/api/v1/events/stream?after=abc', { headers: bearer }, 400],
    ['a stream of an unknown job', '/api/v1/jobs/no-such-job/events/stream', { headers: bearer }, 404],
  ];
  for (const [what, path, init, expected] of refused) {
    const { status, headers } = await headersOf(path, init);
    t.is(status, expected, what);
    assertApiHeaders(t, headers, what);
  }
});

test('a request the HTTP parser refuses is answered with the same headers', async (t) => {
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      text += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
    socket.write('GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n');
  });
  t.regex(answer, /^HTTP\/1\.1 400 /);
  t.regex(answer, /\r\nX-Content-Type-Options: nosniff\r\n/);
  t.regex(answer, /\r\nCache-Control: no-store\r\n/);
  t.regex(answer, /\r\nReferrer-Policy: no-referrer\r\n/);
});

test('the page and its files: nosniff, no-referrer, revalidated (no-cache), the CSP on the page', async (t) => {
  for (const path of ['/', '/ui/app.js', '/ui/catalogue.js']) {
    const res = await fetch(`${server.url}${path}`);
    t.is(res.status, 200, path);
    t.is(res.headers.get('x-content-type-options'), 'nosniff', path);
    t.is(res.headers.get('referrer-policy'), 'no-referrer', path);
    t.is(res.headers.get('cache-control'), 'no-cache', path);
  }
  t.regex((await fetch(`${server.url}/`)).headers.get('content-security-policy') ?? '', /default-src 'self'/);
  const missing = await fetch(`${server.url}/ui/nope.js`);
  t.is(missing.status, 404);
  assertApiHeaders(t, missing.headers, 'a missing UI file');
});
