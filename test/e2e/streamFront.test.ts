import type { ServerResponse } from 'node:http';
import test from 'ava';
import { errorBodySchema } from '../../src/api/errors.ts';
import type { OpenStreamOptions } from '../../src/api/sse/sseHub.ts';
import type { SseSession } from '../../src/api/sse/sseSession.ts';
import { waitFor } from '../helpers/runnerHarness.ts';
import type { RawSse } from '../helpers/sseClient.ts';
import { openRawSse } from '../helpers/sseClient.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { startTestServer, TOKENS } from '../helpers/testServer.ts';

/**
 * The stream front: a plain GET of `/api/v1/jobs/{id}/events/stream` or `/api/v1/events/stream` is served
 * before koa. Its answers must be koa's: the same statuses, error bodies and headers as the forms koa still
 * serves (a trailing slash), the same token rules, limits and log line. Anything else goes to koa.
 */

const ORIGIN = 'http://ui.example';
const PER_TOKEN = 2;
const JOB = 'front-1';
let server: TestServer;
/** The responses streams were opened on, newest last. */
const opened: ServerResponse[] = [];

test.before(async () => {
  server = await startTestServer({
    server: { port: 0, host: '127.0.0.1', log_level: 'info', cors_origins: [ORIGIN] },
    streaming: { heartbeat_seconds: 1, max_streams_per_token: PER_TOKEN },
  });
  const hub = server.deps.hub;
  const open = hub.open.bind(hub);
  hub.open = (res: ServerResponse, options: OpenStreamOptions): SseSession => {
    const session = open(res, options);
    opened.push(res);
    return session;
  };
  const created = await server.api('/jobs', { method: 'POST', json: { pipeline: 'external', id: JOB } });
  if (created.status !== 201) throw new Error(`job not created: ${created.status}`);
});
test.after.always(() => server?.stop());

const url = (path: string) => `${server.url}/api/v1${path}`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Status, error body and header names of an answer that is not a stream. */
async function answerOf(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(url(path), { headers: { origin: ORIGIN, ...headers } });
  const text = await res.text();
  return {
    status: res.status,
    body: text ? errorBodySchema.parse(JSON.parse(text)) : null,
    headers: headerNames(res.headers),
    retryAfter: res.headers.get('retry-after'),
    requestId: res.headers.get('x-request-id'),
  };
}

/** The header names of an answer, without the ones node adds whoever answers. */
const headerNames = (headers: Headers): string[] =>
  [...headers.keys()].filter((name) => !['date', 'connection', 'keep-alive'].includes(name)).sort();

async function closeAll(streams: RawSse[]): Promise<void> {
  for (const s of streams) s.abort();
  await waitFor('every stream to close', async () => server.deps.hub.size === 0);
}

test.serial('anonymous: 401 in the one error shape with a request id, as koa answers it', async (t) => {
  for (const path of ['/events/stream', `/jobs/${JOB}/events/stream`]) {
    const front = await answerOf(path);
    const koa = await answerOf(`${path}/`);
    t.is(front.status, 401, path);
    t.is(front.body?.error.code, 'unauthorized');
    t.is(front.body?.error.message, 'missing bearer token (Authorization: Bearer <token>)');
    t.regex(front.requestId ?? '', /^[0-9a-f-]{36}$/);
    t.deepEqual({ ...front, requestId: null }, { ...koa, requestId: null }, `${path}: front and koa agree`);
  }
  const wrong = await answerOf(`/events/stream?access_token=${TOKENS.viewer}x`);
  t.is(wrong.status, 401);
  t.is(wrong.body?.error.message, 'invalid token');
});

test.serial('refusals after authentication answer as koa does: 400, 404', async (t) => {
  for (const path of [
    `/jobs/${JOB}/events/stream?after=x`,
    `/jobs/${JOB}/events/stream?after=99`,
    '/jobs/no-such-job/events/stream',
    '/jobs/%ZZ/events/stream',
    '/events/stream?type=nope',
    '/events/stream?frames=all',
  ]) {
    const front = await answerOf(path, bearer(TOKENS.viewer));
    const [bare, search = ''] = path.split('?');
    const koa = await answerOf(`${bare}/${search ? `?${search}` : ''}`, bearer(TOKENS.viewer));
    t.true(front.status === 400 || front.status === 404, `${path}: ${front.status}`);
    t.deepEqual({ ...front, requestId: null }, { ...koa, requestId: null }, `${path}: front and koa agree`);
  }
  const badHeader = await answerOf('/events/stream', { ...bearer(TOKENS.viewer), 'last-event-id': 'abc' });
  t.is(badHeader.status, 400);
  t.is(badHeader.body?.error.code, 'invalid_input');
});

test.serial(
  'access_token opens the stream routes only; a viewer token opens both streams, with koa headers',
  async (t) => {
    const byQuery = await openRawSse(url(`/events/stream?access_token=${TOKENS.viewer}`), { origin: ORIGIN });
    t.is(byQuery.status, 200);
    t.regex(byQuery.headers.get('content-type') ?? '', /^text\/event-stream/);
    t.is(byQuery.headers.get('access-control-allow-origin'), ORIGIN);
    t.regex(byQuery.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const elsewhere = await answerOf(`/jobs?access_token=${TOKENS.viewer}`);
    t.is(elsewhere.status, 401);
    t.regex(elsewhere.body?.error.message ?? '', /accepted only by the stream routes/);
    await closeAll([byQuery]);

    const front = await openRawSse(url(`/jobs/${JOB}/events/stream`), {
      ...bearer(TOKENS.viewer),
      origin: ORIGIN,
    });
    const koa = await openRawSse(url(`/jobs/${JOB}/events/stream/`), {
      ...bearer(TOKENS.viewer),
      origin: ORIGIN,
    });
    t.is(front.status, 200);
    t.deepEqual(headerNames(front.headers), headerNames(koa.headers));
    await front.until((m) => m.some((e) => e.event === 'connected'));
    await koa.until((m) => m.some((e) => e.event === 'connected'));
    const [connectedFront, connectedKoa] = [front, koa].map(
      (s) =>
        JSON.parse(s.messages.find((e) => e.event === 'connected')?.data ?? '{}') as Record<string, unknown>,
    );
    t.deepEqual(Object.keys(connectedFront ?? {}), Object.keys(connectedKoa ?? {}));
    t.is(connectedFront?.after, 0);
    // The front's response carries no listener of koa's (on-finished marks what it listens to); koa's does.
    const [frontRes, koaRes] = opened.slice(-2);
    t.false('__onFinished' in (frontRes as object), 'front-served stream: no koa listener');
    t.true('__onFinished' in (koaRes as object), 'koa-served stream: on-finished listens');
    await closeAll([front, koa]);
  },
);

test.serial(
  'stream limits: past max_streams_per_token a 429 with Retry-After and the error shape',
  async (t) => {
    const held = [
      await openRawSse(url('/events/stream'), bearer(TOKENS.viewer)),
      await openRawSse(url(`/jobs/${JOB}/events/stream`), bearer(TOKENS.viewer)),
    ];
    t.deepEqual(
      held.map((s) => s.status),
      [200, 200],
    );
    const refused = await answerOf('/events/stream', bearer(TOKENS.viewer));
    t.is(refused.status, 429);
    t.is(refused.retryAfter, '2', 'Retry-After = retry_ms in seconds');
    t.is(refused.body?.error.code, 'too_many_streams');
    t.like(refused.body?.error.details as object, { scope: 'token', limit: PER_TOKEN });
    const other = await openRawSse(url('/events/stream'), bearer(TOKENS.operator));
    t.is(other.status, 200, 'another token is not held back');
    await closeAll([...held, other]);
    const again = await openRawSse(url('/events/stream'), bearer(TOKENS.viewer));
    t.is(again.status, 200, 'a closed stream frees its slot');
    await closeAll([again]);
  },
);

test.serial('the log line of a stream: path, status, redacted query; the token in no line', async (t) => {
  const before = server.logLines.length;
  const stream = await openRawSse(url(`/events/stream?access%5Ftoken=${TOKENS.viewer}&frames=named`));
  t.is(stream.status, 200);
  await closeAll([stream]);
  await answerOf(`/events/stream?access_token=${TOKENS.admin}-wrong`);
  const lines = server.logLines.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
  const http = lines.filter((l) => l.msg === 'http' && l.path === '/api/v1/events/stream');
  t.deepEqual(
    http.map((l) => [l.status, l.query]),
    [
      [200, { access_token: '[REDACTED]', frames: 'named' }],
      [401, { access_token: '[REDACTED]' }],
    ],
  );
  t.true(http.every((l) => l.method === 'GET' && typeof l.ms === 'number'));
  const leaks = server.logLines.filter((l) => Object.values(TOKENS).some((token) => l.includes(token)));
  t.deepEqual(leaks, []);
});

test.serial('everything else falls through to koa unchanged', async (t) => {
  const jobs = await server.api('/jobs', { as: 'viewer' });
  t.is(jobs.status, 200);
  t.regex(jobs.headers.get('content-type') ?? '', /^application\/json/);
  const post = await fetch(url('/events/stream'), { method: 'POST', headers: bearer(TOKENS.admin) });
  t.is(post.status, 405);
  t.regex(post.headers.get('allow') ?? '', /GET/);
  t.is(errorBodySchema.parse(await post.json()).error.code, 'method_not_allowed');
  const near = await fetch(url('/events/streams'), { headers: bearer(TOKENS.admin) });
  t.is(near.status, 404);
  t.is(errorBodySchema.parse(await near.json()).error.code, 'not_found');
  const preflight = await fetch(url('/events/stream'), {
    method: 'OPTIONS',
    headers: { origin: ORIGIN, 'access-control-request-method': 'GET' },
  });
  t.is(preflight.status, 204);
  t.regex(preflight.headers.get('access-control-allow-headers') ?? '', /Last-Event-ID/);
  const metrics = await (await server.api('/metrics')).text();
  t.regex(
    metrics,
    /operator_http_request_duration_seconds_count\{[^}]*route="\/api\/v1\/events\/stream"[^}]*status="401"/,
  );
});
