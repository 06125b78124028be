import test from 'ava';
import type { TestServer } from '../helpers/testServer.ts';
import { json, startTestServer } from '../helpers/testServer.ts';

type Job = {
  job_id: string;
  status: string;
  seq: number;
  current_stage: string | null;
  paused_gate: string | null;
};
type EventsPage = {
  job_id: string;
  events: { seq: number; type: string; actor: string; ts: string }[];
  next_after: number | null;
  head: number;
};

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(async () => {
  await server?.stop();
});

async function createJob(id?: string, as: 'admin' | 'operator' = 'operator'): Promise<Job> {
  const res = await server.api('/jobs', {
    method: 'POST',
    as,
    json: { pipeline: 'external', params: { n: 1 }, ...(id ? { id } : {}) },
  });
  if (res.status !== 201) throw new Error(`create: ${res.status} ${await res.text()}`);
  return (await json<{ job: Job }>(res)).job;
}

test('the seed flow: create, start, poll, advance through a gate, complete', async (t) => {
  const job = await createJob();
  t.regex(job.job_id, /^j_[0-9A-Z]{22}$/);
  t.is(job.status, 'queued');
  const started = await server.api(`/jobs/${job.job_id}/start`, { method: 'POST', as: 'operator' });
  t.is(started.status, 200);
  t.is((await json<{ job: Job }>(started)).job.status, 'running');
  for (const [path, body] of [
    ['stages/ingest/start', {}],
    ['stages/ingest/complete', { duration_ms: 12 }],
    ['stages/review/start', {}],
    ['stages/review/complete', {}],
  ] as const) {
    const res = await server.api(`/jobs/${job.job_id}/${path}`, {
      method: 'POST',
      as: 'operator',
      json: body,
    });
    t.is(res.status, 200, path);
  }
  const paused = await json<Job>(await server.api(`/jobs/${job.job_id}`));
  t.is(paused.status, 'paused');
  t.is(paused.paused_gate, 'review');
  const approved = await server.api(`/jobs/${job.job_id}/gates/review/approve`, {
    method: 'POST',
    as: 'operator',
    json: { comment: 'looks good' },
  });
  t.is(approved.status, 200);
  const events = (
    await json<{ events: { type: string; actor: string; payload: Record<string, unknown> }[] }>(approved)
  ).events;
  t.deepEqual(
    events.map((e) => e.type),
    ['gate_approved', 'job_resumed'],
  );
  t.is(events[0]?.actor, 'alice');
  t.is(events[0]?.payload.comment, 'looks good');
  for (const path of ['stages/publish/start', 'stages/publish/complete']) {
    t.is(
      (await server.api(`/jobs/${job.job_id}/${path}`, { method: 'POST', as: 'operator', json: {} })).status,
      200,
    );
  }
  const page = await json<EventsPage>(await server.api(`/jobs/${job.job_id}/events`, { as: 'viewer' }));
  t.is(page.job_id, job.job_id);
  t.deepEqual(
    page.events.map((e) => e.seq),
    page.events.map((_e, i) => i),
  );
  t.is(page.events.at(-1)?.type, 'job_completed');
  t.is(page.head, page.events.length - 1);
  const done = await server.api(`/jobs/${job.job_id}`);
  t.is((await json<Job>(done)).status, 'completed');
  t.is(done.headers.get('etag'), `"${page.head}"`);
});

test('polling: since is inclusive, after is exclusive, no cursor gives the latest limit', async (t) => {
  const job = await createJob();
  await server.api(`/jobs/${job.job_id}/start`, { method: 'POST' });
  await server.api(`/jobs/${job.job_id}/stages/ingest/start`, { method: 'POST', json: {} });
  const all = await json<EventsPage>(await server.api(`/jobs/${job.job_id}/events`));
  t.is(all.events.length, 3);
  const after0 = await json<EventsPage>(await server.api(`/jobs/${job.job_id}/events?after=0`));
  t.deepEqual(
    after0.events.map((e) => e.seq),
    [1, 2],
  );
  t.is(after0.next_after, 2);
  const since = await json<EventsPage>(
    await server.api(`/jobs/${job.job_id}/events?since=${encodeURIComponent(all.events[1]!.ts)}`),
  );
  t.true(since.events.every((e) => e.ts >= all.events[1]!.ts));
  t.true(since.events.some((e) => e.seq === 1));
  const latest = await json<EventsPage>(await server.api(`/jobs/${job.job_id}/events?limit=2`));
  t.deepEqual(
    latest.events.map((e) => e.seq),
    [1, 2],
  );
  const limited = await json<EventsPage>(await server.api(`/jobs/${job.job_id}/events?after=-1&limit=1`));
  t.deepEqual(
    limited.events.map((e) => e.seq),
    [0],
  );
  t.is(limited.next_after, 0);
});

test('polling with wait long-polls until the next event arrives', async (t) => {
  const job = await createJob();
  const started = Date.now();
  const pending = server.api(`/jobs/${job.job_id}/events?after=0&wait=10`);
  setTimeout(() => void server.api(`/jobs/${job.job_id}/start`, { method: 'POST' }), 300);
  const page = await json<EventsPage>(await pending);
  t.deepEqual(
    page.events.map((e) => e.type),
    ['job_started'],
  );
  t.true(Date.now() - started >= 250);
  const empty = await json<EventsPage>(await server.api(`/jobs/${job.job_id}/events?after=1&wait=1`));
  t.deepEqual(empty.events, []);
});

test('the same client id twice gives the existing job, not a second one; 100 at once give one job', async (t) => {
  const first = await createJob('client-id-1');
  const again = await server.api('/jobs', {
    method: 'POST',
    json: { pipeline: 'external', id: 'client-id-1' },
  });
  t.is(again.status, 200);
  t.is((await json<{ job: Job }>(again)).job.job_id, first.job_id);
  const many = await Promise.all(
    Array.from({ length: 100 }, () =>
      server.api('/jobs', { method: 'POST', json: { pipeline: 'external', id: 'burst-1' } }),
    ),
  );
  const statuses = many.map((r) => r.status);
  t.is(statuses.filter((s) => s === 201).length, 1);
  t.is(statuses.filter((s) => s === 200).length, 99);
  const page = await json<EventsPage>(await server.api('/jobs/burst-1/events'));
  t.deepEqual(
    page.events.map((e) => e.type),
    ['job_created'],
  );
});

test('If-Match makes a command conditional: 409 when stale', async (t) => {
  const job = await createJob();
  const stale = await server.api(`/jobs/${job.job_id}/start`, {
    method: 'POST',
    headers: { 'if-match': '"5"' },
  });
  t.is(stale.status, 409);
  t.is((await json<{ error: { code: string } }>(stale)).error.code, 'stale_seq');
  // Past 2^53 - 1 a seq is refused as `after` refuses it, not compared as a rounded 1e+23.
  for (const huge of ['99999999999999999999999', '"9007199254740992"']) {
    const res = await server.api(`/jobs/${job.job_id}/start`, {
      method: 'POST',
      headers: { 'if-match': huge },
    });
    t.is(res.status, 400, `If-Match: ${huge}`);
    t.like(await json(res), {
      error: {
        code: 'bad_request',
        message: 'invalid If-Match header: Too big: expected int to be <=9007199254740991',
      },
    });
  }
  const largest = await server.api(`/jobs/${job.job_id}/start`, {
    method: 'POST',
    headers: { 'if-match': '9007199254740991' },
  });
  t.is(largest.status, 409, 'the largest seq is well formed: stale');
  const fresh = await server.api(`/jobs/${job.job_id}/start`, {
    method: 'POST',
    headers: { 'if-match': `"${job.seq}"` },
  });
  t.is(fresh.status, 200);
});

test('listing is newest first, filtered by status, paged with a cursor', async (t) => {
  const a = await createJob();
  const b = await createJob();
  await server.api(`/jobs/${b.job_id}/cancel`, { method: 'POST', json: { reason: 'not needed' } });
  const canceled = await json<{ jobs: Job[] }>(await server.api('/jobs?status=canceled'));
  t.true(canceled.jobs.some((j) => j.job_id === b.job_id));
  t.true(canceled.jobs.every((j) => j.status === 'canceled'));
  const page1 = await json<{ jobs: Job[]; next_cursor: string | null }>(await server.api('/jobs?limit=1'));
  t.is(page1.jobs.length, 1);
  t.truthy(page1.next_cursor);
  const page2 = await json<{ jobs: Job[] }>(
    await server.api(`/jobs?limit=1&cursor=${encodeURIComponent(page1.next_cursor!)}`),
  );
  t.not(page2.jobs[0]?.job_id, page1.jobs[0]?.job_id);
  const all = await json<{ jobs: Job[] }>(await server.api('/jobs?limit=1000'));
  const ids = all.jobs.map((j) => j.job_id);
  t.true(ids.indexOf(b.job_id) < ids.indexOf(a.job_id));
});

test('errors have one shape: 400 with zod issues, 401, 403, 404, 409, 413, 422', async (t) => {
  const expectError = async (res: Response, status: number, code?: string) => {
    t.is(res.status, status, `${res.url} -> ${status}`);
    const body = await json<{ error: { code: string; message: string; details?: unknown } }>(res);
    t.is(typeof body.error.message, 'string');
    if (code) t.is(body.error.code, code);
    return body.error;
  };
  const bad = await expectError(
    await server.api('/jobs', { method: 'POST', json: { pipeline: 'external', params: 5 } }),
    400,
    'invalid_input',
  );
  t.true(Array.isArray(bad.details));
  await expectError(
    await server.api('/jobs', { method: 'POST', json: { pipeline: 'external', extra: 1 } }),
    400,
  );
  await expectError(
    await server.api('/jobs', {
      method: 'POST',
      body: '{nope',
      headers: { 'content-type': 'application/json' },
    }),
    400,
    'invalid_json',
  );
  await expectError(await server.api('/jobs', { as: null }), 401, 'unauthorized');
  await expectError(
    await server.api('/jobs', { headers: { authorization: 'Bearer wrong-token-xyz' }, as: null }),
    401,
  );
  await expectError(await server.api('/jobs', { method: 'POST', as: 'viewer', json: {} }), 403, 'forbidden');
  await expectError(await server.api('/jobs/nope-nope'), 404);
  await expectError(await server.api('/jobs/bad%20id!'), 400, 'invalid_input');
  await expectError(await server.api('/no/such/route'), 404, 'not_found');
  const job = await createJob();
  await expectError(
    await server.api(`/jobs/${job.job_id}/gates/review/approve`, { method: 'POST', json: {} }),
    409,
  );
  await expectError(
    await server.api(`/jobs/${job.job_id}/gates/bad$gate/approve`, { method: 'POST', json: {} }),
    400,
  );
  await expectError(
    await server.api(`/jobs/${job.job_id}/stages/nope/start`, { method: 'POST', json: {} }),
    422,
    'unknown_stage',
  );
  await expectError(
    await server.api(`/jobs/${job.job_id}/stages/ingest/start`, { method: 'POST', json: {} }),
    409,
    'not_running',
  );
  await expectError(
    await server.api('/jobs', { method: 'POST', json: { pipeline: 'missing' } }),
    422,
    'unknown_pipeline',
  );
  const big = {
    pipeline: 'external',
    params: { blob: 'x'.repeat(server.config.server.body_limit_bytes + 10) },
  };
  await expectError(await server.api('/jobs', { method: 'POST', json: big }), 413, 'payload_too_large');
  await expectError(await server.api('/jobs?limit=abc'), 400);
  await expectError(await server.api(`/jobs/${job.job_id}/events?since=yesterday`), 400);
});

test('roles: viewer reads, operator commands, admin does everything; the actor is the token name', async (t) => {
  const job = await createJob(undefined, 'admin');
  t.is((await server.api(`/jobs/${job.job_id}`, { as: 'viewer' })).status, 200);
  t.is((await server.api(`/jobs/${job.job_id}/start`, { method: 'POST', as: 'viewer' })).status, 403);
  const res = await server.api(`/jobs/${job.job_id}/start`, { method: 'POST', as: 'operator' });
  t.is(res.status, 200);
  const page = await json<EventsPage>(await server.api(`/jobs/${job.job_id}/events`, { as: 'viewer' }));
  t.deepEqual(
    page.events.map((e) => e.actor),
    ['root', 'alice'],
  );
});

test('metrics count a refused request with the status it was answered with, not 404', async (t) => {
  const bad = await server.api('/jobs', { method: 'POST', as: 'operator', json: { pipeline: 42 } });
  t.is(bad.status, 400);
  const forbidden = await server.api('/jobs', { method: 'POST', as: 'viewer', json: {} });
  t.is(forbidden.status, 403);
  const missing = await server.api('/jobs/no-such-job', { as: 'viewer' });
  t.is(missing.status, 404);
  const metrics = await (await fetch(`${server.url}/api/v1/metrics`)).text();
  const counted = new Map(
    [...metrics.matchAll(/^operator_http_request_duration_seconds_count\{([^}]*)\} (\d+)$/gm)].map(
      (m) => [m[1] ?? '', Number(m[2])] as const,
    ),
  );
  const labels = (method: string, route: string, status: number) =>
    `method="${method}",route="${route}",status="${status}"`;
  t.true((counted.get(labels('POST', '/api/v1/jobs', 400)) ?? 0) >= 1, [...counted.keys()].join('\n'));
  t.true((counted.get(labels('POST', '/api/v1/jobs', 403)) ?? 0) >= 1);
  t.true((counted.get(labels('GET', '/api/v1/jobs/:id', 404)) ?? 0) >= 1);
  t.is(counted.get(labels('POST', '/api/v1/jobs', 404)), undefined, 'no refusal is counted as a 404');
});

test('health, readiness, metrics and the OpenAPI document', async (t) => {
  t.is((await fetch(`${server.url}/api/v1/healthz`)).status, 200);
  const ready = await fetch(`${server.url}/api/v1/readyz`);
  t.is(ready.status, 200);
  const metrics = await (await fetch(`${server.url}/api/v1/metrics`)).text();
  for (const name of [
    'operator_http_request_duration_seconds',
    'operator_sse_connections',
    'operator_events_appended_total',
    'operator_projection_lag_events',
  ]) {
    t.true(metrics.includes(name), name);
  }
  const doc = await json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(
    await fetch(`${server.url}/api/v1/openapi.json`),
  );
  t.is(doc.openapi, '3.1.0');
  for (const path of [
    '/api/v1/jobs',
    '/api/v1/jobs/{id}',
    '/api/v1/jobs/{id}/events',
    '/api/v1/jobs/{id}/events/stream',
    '/api/v1/events/stream',
    '/api/v1/jobs/{id}/gates/{gate}/approve',
  ]) {
    t.truthy(doc.paths[path], path);
  }
});

test('the access_token query value never reaches a log line', async (t) => {
  await server
    .api(`/events/stream?access_token=${encodeURIComponent('test-viewer-token-0001')}`, {
      as: null,
      signal: AbortSignal.timeout(500),
    })
    .catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 600));
  t.true(server.logLines.some((l) => l.includes('"access_token":"[REDACTED]"')));
  t.false(server.logLines.some((l) => l.includes('test-viewer-token-0001')));
});

test.serial(
  'global polling by position: after is exclusive, and wait long-polls for the next event of any job',
  async (t) => {
    const first = await json<{ events: { position: string }[]; next_after: string | null }>(
      await server.api('/events?limit=1000', { as: 'viewer' }),
    );
    const head = first.next_after ?? '-1';
    const pending = server.api(`/events?after=${head}&wait=10`, { as: 'viewer' });
    setTimeout(() => void createJob('global-wait-1'), 300);
    const page = await json<{ events: { job_id: string; type: string; position: string }[] }>(await pending);
    t.deepEqual(
      page.events.map((e) => [e.job_id, e.type]),
      [['global-wait-1', 'job_created']],
    );
    t.true(BigInt(page.events[0]!.position) > BigInt(head));
  },
);
