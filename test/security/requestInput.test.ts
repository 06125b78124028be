import test from 'ava';
import type { TestServer } from '../helpers/testServer.ts';
import { json, startTestServer, TOKENS } from '../helpers/testServer.ts';

/**
 * Doors of request input: ids that read as options, stages the runner owns, bodies too deep or too big,
 * and listings that would carry every job's params.
 */

let server: TestServer;

test.before(async () => {
  server = await startTestServer({
    server: { port: 0, host: '127.0.0.1', log_level: 'info', max_payload_bytes: 4096, max_json_depth: 32 },
    pipelines: {
      external: { stages: [{ name: 'ingest' }, { name: 'publish' }] },
      scripted: { stages: [{ name: 'build', run: 'true' }, { name: 'ship' }] },
    },
  });
});
test.after.always(() => server?.stop());

interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

async function expectError(t: import('ava').ExecutionContext, res: Response, status: number, code?: string) {
  t.is(res.status, status);
  const body = await json<ErrorBody>(res);
  t.is(typeof body.error?.message, 'string', 'the error shape');
  if (code) t.is(body.error.code, code);
  return body;
}

test('ids: a job id that reads as an option or a hidden file is refused (400), nothing is created', async (t) => {
  for (const id of ['--help', '-rf', '_hidden', '.x', 'a/b']) {
    const res = await server.api('/jobs', { method: 'POST', json: { id, pipeline: 'external' } });
    await expectError(t, res, 400);
  }
  const list = await json<{ jobs: unknown[] }>(await server.api('/jobs'));
  t.is(list.jobs.length, 0);
});

test('ids: stage and gate names in the path start with a letter or digit (400 otherwise)', async (t) => {
  await server.api('/jobs', { method: 'POST', json: { id: 'ids-1', pipeline: 'external' } });
  await expectError(t, await server.api('/jobs/ids-1/stages/--x/start', { method: 'POST', json: {} }), 400);
  await expectError(t, await server.api('/jobs/ids-1/gates/-g/approve', { method: 'POST', json: {} }), 400);
});

test('workers: start, complete and fail of a stage with a run command answer 409 (the runner owns it)', async (t) => {
  await server.api('/jobs', { method: 'POST', json: { id: 'owned-1', pipeline: 'scripted' } });
  t.is((await server.api('/jobs/owned-1/start', { method: 'POST', json: {} })).status, 200);
  for (const action of ['start', 'complete', 'fail']) {
    const res = await server.api(`/jobs/owned-1/stages/build/${action}`, {
      method: 'POST',
      json: action === 'fail' ? { reason: 'x' } : {},
      as: 'operator',
    });
    const body = await expectError(t, res, 409, 'stage_run_by_runner');
    t.regex(body.error.message, /runner owns it/);
  }
  const job = await json<{ current_stage: string | null }>(await server.api('/jobs/owned-1'));
  t.is(job.current_stage, null, 'the stage was not started by hand');
});

test('input: a body nested 50,000 levels deep is a 400 before it reaches the decider, and the server stays up', async (t) => {
  const deep = `{"id":"deep-1","params":${'['.repeat(50_000)}${']'.repeat(50_000)}}`;
  const res = await server.api('/jobs', {
    method: 'POST',
    body: deep,
    headers: { 'content-type': 'application/json' },
  });
  await expectError(t, res, 400, 'too_deep');
  const deepComment = `{"comment":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`;
  await expectError(
    t,
    await server.api('/jobs/x/gates/g/approve', {
      method: 'POST',
      body: deepComment,
      headers: { 'content-type': 'application/json' },
    }),
    400,
    'too_deep',
  );
  t.is((await server.api('/healthz', { as: null })).status, 200);
});

test('input: a body with a __proto__ key, at any depth, is a 400 in the error shape, and nothing is recorded without it', async (t) => {
  const post = (path: string, body: string) =>
    server.api(path, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  const refused = await expectError(
    t,
    await post('/jobs', '{"id":"proto-params","params":{"__proto__":{"admin":true},"a":1}}'),
    400,
    'invalid_json',
  );
  t.regex(refused.error.message, /__proto__/);
  t.is((await server.api('/jobs/proto-params')).status, 404, 'no job was created');
  await expectError(t, await post('/jobs', '{"__proto__":{"pipeline":"x"}}'), 400, 'invalid_json');
  await expectError(
    t,
    await post('/jobs/x/gates/g/approve', '{"comment":"ok","payload":{"deep":[{"__proto__":1}]}}'),
    400,
    'invalid_json',
  );
  // The same text as a value, or a key that only looks like it, is data like any other.
  const ok = await post(
    '/jobs',
    '{"id":"proto-ok","params":{"note":"__proto__","__proto":1,"constructor":2}}',
  );
  t.is(ok.status, 201);
  const view = await json<Record<string, unknown>>(await server.api('/jobs/proto-ok', { as: 'viewer' }));
  t.deepEqual(view['params'], { note: '__proto__', __proto: 1, constructor: 2 });
  t.is(({} as Record<string, unknown>)['admin'], undefined, 'no prototype was touched');
});

test('input: params and event payloads over max_payload_bytes are a 413 naming the field', async (t) => {
  const big = { blob: 'x'.repeat(5000) };
  const created = await server.api('/jobs', { method: 'POST', json: { id: 'big-1', params: big } });
  const body = await expectError(t, created, 413, 'payload_too_large');
  t.regex(body.error.message, /params/);
  t.is((await server.api('/jobs/big-1')).status, 404, 'nothing was stored');
  await server.api('/jobs', { method: 'POST', json: { id: 'big-2', pipeline: 'external' } });
  await server.api('/jobs/big-2/start', { method: 'POST', json: {} });
  const stage = await server.api('/jobs/big-2/stages/ingest/start', {
    method: 'POST',
    json: { payload: big },
  });
  const stageBody = await expectError(t, stage, 413, 'payload_too_large');
  t.regex(stageBody.error.message, /payload/);
});

test('input: a body over server.body_limit_bytes is a 413 without being read whole', async (t) => {
  const res = await server.api('/jobs', {
    method: 'POST',
    body: `{"params":{"a":"${'x'.repeat(1_100_000)}"}}`,
    headers: { 'content-type': 'application/json' },
  });
  await expectError(t, res, 413, 'payload_too_large');
});

test('listing: GET /jobs rows leave params out; the job view keeps them', async (t) => {
  const params = { topic: 'otters', secret_note: 'only in the job view' };
  await server.api('/jobs', { method: 'POST', json: { id: 'list-1', pipeline: 'external', params } });
  const list = await json<{ jobs: Record<string, unknown>[] }>(await server.api('/jobs?limit=1000'));
  const row = list.jobs.find((j) => j['job_id'] === 'list-1');
  t.truthy(row);
  t.false('params' in (row ?? {}));
  const view = await json<Record<string, unknown>>(await server.api('/jobs/list-1'));
  t.deepEqual(view['params'], params);
});

test('tokens: ?access_token= is refused (401) on every route but the streams, writes included', async (t) => {
  const q = `access_token=${TOKENS.admin}`;
  const created = await server.api(`/jobs?${q}`, {
    method: 'POST',
    as: null,
    json: { id: 'qt-1', pipeline: 'external' },
  });
  await expectError(t, created, 401);
  t.is((await server.api('/jobs/qt-1')).status, 404, 'no job was created');
  await expectError(t, await server.api(`/jobs?${q}`, { as: null }), 401);
  // even beside a valid header: a token in a URL is refused, not ignored
  await expectError(t, await server.api(`/jobs?${q}`), 401);
  await expectError(t, await server.api(`/jobs?access%5Ftoken=${TOKENS.admin}`, { as: null }), 401);
  // the whole log (no follow) is a plain GET too
  await server.api('/jobs', { method: 'POST', json: { id: 'qt-2', pipeline: 'external' } });
  await expectError(t, await server.api(`/jobs/qt-2/stages/ingest/log?${q}`, { as: null }), 401);
});

test('tokens: ?access_token= opens the per-job stream, the global stream and a log follow', async (t) => {
  await server.api('/jobs', { method: 'POST', json: { id: 'qt-3', pipeline: 'external' } });
  const q = `access_token=${TOKENS.viewer}`;
  for (const path of [
    '/jobs/qt-3/events/stream',
    '/events/stream',
    '/jobs/qt-3/stages/ingest/log?follow=1',
  ]) {
    const controller = new AbortController();
    const res = await server.api(`${path}${path.includes('?') ? '&' : '?'}${q}`, {
      as: null,
      signal: controller.signal,
    });
    t.not(res.status, 401, path);
    t.not(res.status, 403, path);
    // the stage has no log yet: 404 past authentication; the streams open
    if (path.includes('/log')) t.is(res.status, 404, path);
    else t.is(res.status, 200, path);
    controller.abort();
  }
});

test('tokens: ?access_token= given twice is refused with a message that says so', async (t) => {
  await server.api('/jobs', { method: 'POST', json: { id: 'qt-4', pipeline: 'external' } });
  const twice = `access_token=${TOKENS.viewer}&access_token=${TOKENS.viewer}`;
  for (const path of [
    '/jobs/qt-4/events/stream',
    '/events/stream',
    '/jobs/qt-4/stages/ingest/log?follow=1',
  ]) {
    const res = await server.api(`${path}${path.includes('?') ? '&' : '?'}${twice}`, { as: null });
    const body = await expectError(t, res, 401);
    t.regex(body.error.message, /more than once/, path);
  }
});
