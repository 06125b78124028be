import test from 'ava';
import fc from 'fast-check';
import type { TestServer } from '../helpers/testServer.ts';
import { startTestServer, TOKENS } from '../helpers/testServer.ts';

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(async () => {
  await server?.stop();
});

const segment = fc.oneof(
  fc.constantFrom(
    'jobs',
    'events',
    'stream',
    'gates',
    'stages',
    'start',
    'cancel',
    'resume',
    'approve',
    'reject',
    'complete',
    'fail',
    'healthz',
    'readyz',
    'openapi.json',
    '..',
    '%00',
    '%ZZ',
    '',
    ' ',
    'constructor',
    '__proto__',
  ),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
  fc.string({ unit: 'binary', maxLength: 8 }).map(encodeURIComponent),
);
const templates = [
  'jobs',
  'jobs/{id}',
  'jobs/{id}/start',
  'jobs/{id}/cancel',
  'jobs/{id}/resume',
  'jobs/{id}/events',
  'jobs/{id}/events/stream',
  'jobs/{id}/gates/{name}/approve',
  'jobs/{id}/gates/{name}/reject',
  'jobs/{id}/stages/{name}/start',
  'jobs/{id}/stages/{name}/complete',
  'jobs/{id}/stages/{name}/fail',
  'events',
  'events/stream',
  'readyz',
];
const queryValue = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.integer().map(String),
  fc.constantFrom('-1', '1e309', 'NaN', '2026-13-45T99:99:99Z'),
);
const query = fc
  .array(
    fc.tuple(
      fc.constantFrom(
        'after',
        'since',
        'limit',
        'wait',
        'status',
        'cursor',
        'type',
        'job',
        'access_token',
        'x',
      ),
      queryValue,
    ),
    { maxLength: 4 },
  )
  .map((pairs) =>
    pairs.length ? `?${pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}` : '',
  );
const jsonBody = fc.oneof(
  fc.json({ maxDepth: 3 }),
  fc.constantFrom(
    '{',
    '[]',
    'null',
    '"x"',
    '{"pipeline":{}}',
    '{"params":[]}',
    '{"comment":5}',
    '{"reason":""}',
  ),
  fc
    .record({
      pipeline: fc.constantFrom('external', 'looping', 'nope'),
      params: fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 })),
      id: fc.string({ maxLength: 70 }),
    })
    .map((o) => JSON.stringify(o)),
);
const headerSets = fc.record(
  {
    authorization: fc.oneof(
      fc.constant(`Bearer ${TOKENS.admin}`),
      fc.constant(`Bearer ${TOKENS.viewer}`),
      fc.string({ maxLength: 30 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
    ),
    'content-type': fc.constantFrom(
      'application/json',
      'text/plain',
      'application/x-www-form-urlencoded',
      '',
    ),
    'if-match': fc.oneof(
      fc.constant('"0"'),
      fc.string({ maxLength: 10 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
    ),
    'last-event-id': fc.oneof(
      fc.constant('0'),
      fc.string({ maxLength: 10 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
    ),
  },
  { requiredKeys: [] },
);

test('random paths, queries, headers and bodies never get a 5xx nor crash the server', async (t) => {
  // A known job, so that some random requests reach deep into the handlers.
  await server.api('/jobs', { method: 'POST', json: { pipeline: 'external', id: 'fuzz-job' } });
  const seen = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'OPTIONS', 'HEAD'),
      fc.oneof(
        fc.array(segment, { minLength: 0, maxLength: 5 }),
        fc
          .tuple(
            fc.constantFrom(...templates),
            fc.oneof(fc.constant('fuzz-job'), segment),
            fc.oneof(fc.constantFrom('ingest', 'review', 'publish'), segment),
          )
          .map(([template, id, name]) => template.replace('{id}', id).replace('{name}', name).split('/')),
      ),
      fc.boolean(),
      query,
      headerSets,
      jsonBody,
      async (method, segments, useJob, q, headers, body) => {
        const path = useJob && segments[0] !== 'jobs' ? ['jobs', 'fuzz-job', ...segments] : segments;
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), 3000);
        try {
          const res = await fetch(`${server.url}/api/v1/${path.join('/')}${q}`, {
            method,
            headers: Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== '')),
            body: method === 'GET' || method === 'HEAD' ? undefined : body,
            signal: controller.signal,
          });
          seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
          // Streams stay open: only their status matters here.
          if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) controller.abort();
          else await res.arrayBuffer();
          return res.status < 500;
        } catch (error) {
          if (controller.signal.aborted) return true;
          throw error;
        } finally {
          clearTimeout(timer);
        }
      },
    ),
    { numRuns: 400 },
  );
  t.log(
    [...seen.entries()]
      .sort()
      .map(([s, n]) => `${s}:${n}`)
      .join(' '),
  );
  t.is((await fetch(`${server.url}/api/v1/healthz`)).status, 200);
  t.false(server.logLines.some((l) => l.includes('"level":50') && l.includes('request failed')));
});

test('gates and stages named like what every object inherits are unknown (422 in the error shape), not conflicts', async (t) => {
  const created = await server.api('/jobs', {
    method: 'POST',
    json: { pipeline: 'external', id: 'proto-job' },
  });
  t.true(created.status === 201 || created.status === 200);
  await server.api('/jobs/proto-job/start', { method: 'POST' });
  const answer = async (path: string) => {
    const res = await server.api(path, { method: 'POST', json: {} });
    return { status: res.status, code: ((await res.json()) as { error?: { code?: string } }).error?.code };
  };
  for (const name of ['constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
    t.deepEqual(
      await answer(`/jobs/proto-job/gates/${name}/approve`),
      { status: 422, code: 'unknown_gate' },
      name,
    );
    t.deepEqual(
      await answer(`/jobs/proto-job/gates/${name}/reject`),
      { status: 422, code: 'unknown_gate' },
      name,
    );
    t.deepEqual(
      await answer(`/jobs/proto-job/stages/${name}/start`),
      { status: 422, code: 'unknown_stage' },
      name,
    );
  }
  // A name that starts with an underscore never reaches the decider.
  t.deepEqual(await answer('/jobs/proto-job/gates/__proto__/approve'), {
    status: 400,
    code: 'invalid_input',
  });
});
