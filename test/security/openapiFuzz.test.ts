import test from 'ava';
import fc from 'fast-check';
import type { TestServer } from '../helpers/testServer.ts';
import { startTestServer, TOKENS } from '../helpers/testServer.ts';

/**
 * Every operation the API documents, attacked with generated input: the operation list comes from the
 * server's own `GET /api/v1/openapi.json`, so a new route is fuzzed the day it is added. Each request picks
 * a role (none, a wrong token, viewer, operator, admin; by header or by `?access_token=`), path values,
 * documented and unknown query parameters, headers and a body. Properties: no 5xx; every 4xx carries the
 * one error shape; a request without a writer's token writes nothing (the store's head and the webhook
 * registry are unchanged); the server is healthy after the run.
 */

interface Operation {
  method: string;
  path: string;
  query: string[];
  writes: boolean;
}

type FuzzRole = 'none' | 'wrong' | 'viewer' | 'operator' | 'admin';
const tokenOf = (role: FuzzRole): string | null =>
  role === 'none' ? null : role === 'wrong' ? 'not-a-real-token-000000' : TOKENS[role];

let server: TestServer;
const operations: Operation[] = [];

test.before(async () => {
  server = await startTestServer();
  await server.api('/jobs', { method: 'POST', json: { pipeline: 'external', id: 'fz-1' } });
  await server.api('/jobs/fz-1/start', { method: 'POST', json: {} });
  await server.api('/jobs/fz-1/stages/ingest/start', { method: 'POST', json: {} });
  await server.api('/jobs', { method: 'POST', json: { pipeline: 'external', id: 'fz-2' } });
  const doc = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as {
    paths: Record<string, Record<string, { parameters?: { in: string; name: string }[] }>>;
  };
  for (const [path, ops] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(ops))
      operations.push({
        method: method.toUpperCase(),
        path,
        query: (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
        writes: method !== 'get',
      });
});
test.after.always(() => server?.stop());

const printable = (max: number) => fc.string({ maxLength: max }).map((s) => s.replace(/[^\x20-\x7e]/g, ''));
const segment = fc.oneof(
  fc.constantFrom(
    'fz-1',
    'fz-2',
    'ingest',
    'review',
    'publish',
    'nope',
    '--help',
    '_x',
    '..',
    '%2e%2e',
    '%00',
  ),
  fc.string({ maxLength: 70 }).map(encodeURIComponent),
);
const queryValue = fc.oneof(
  fc.constantFrom('-1', '0', '1', '1e309', 'NaN', '99999999999999999999999', '9999-01-01T00:00:00Z'),
  fc.constantFrom('2025-01-01T00:00:00', '2025-01-01', '', 'true', 'alias', 'named', 'csv'),
  printable(30),
);
const body = fc.oneof(
  fc.json({ maxDepth: 4 }),
  fc.constantFrom('{', '[]', 'null', '"x"', '{"params":[]}', '{"comment":5}', '{"reason":""}'),
  fc.constant(`{"params":${'['.repeat(200)}${']'.repeat(200)}}`),
  fc
    .record(
      {
        pipeline: fc.constantFrom('external', 'looping', 'nope'),
        id: segment,
        params: fc.dictionary(printable(5), fc.jsonValue({ maxDepth: 3 })),
        payload: fc.dictionary(printable(5), fc.jsonValue({ maxDepth: 3 })),
        metadata: fc.dictionary(printable(5), fc.jsonValue({ maxDepth: 2 })),
        comment: printable(20),
        reason: printable(20),
        url: fc.constantFrom('http://127.0.0.1:1/x', 'http://169.254.169.254/', 'https://example.com/h'),
        timestamp: fc.constantFrom('2025-01-01T00:00:00Z', 'yesterday'),
        force: fc.boolean(),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
);
const request = fc.record({
  op: fc.nat(),
  // Mostly real tokens in the header, so requests get past authentication into the handlers.
  role: fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom<FuzzRole>('none', 'wrong') },
    { weight: 4, arbitrary: fc.constantFrom<FuzzRole>('viewer', 'operator', 'admin') },
  ),
  tokenInQuery: fc.nat(5).map((n) => n === 0),
  values: fc.array(segment, { minLength: 3, maxLength: 3 }),
  query: fc.array(fc.tuple(fc.nat(), queryValue), { maxLength: 4 }),
  extraQuery: fc.option(fc.tuple(printable(10), queryValue)),
  ifMatch: fc.option(fc.oneof(fc.constant('"0"'), printable(10))),
  lastEventId: fc.option(fc.oneof(fc.constantFrom('0', '-5', '99999999999999999999999'), printable(10))),
  contentType: fc.constantFrom('application/json', 'text/plain', ''),
  body,
});

/** What a request without a writer's token must never change. */
async function fingerprint(): Promise<string> {
  const head = await server.deps.store.headPosition();
  const hooks = await server.api('/webhooks');
  return `${head} ${await hooks.text()}`;
}

test('every documented operation: no 5xx, the error shape on every 4xx, no write without a writer token', async (t) => {
  t.timeout(240_000);
  t.true(operations.length >= 20, `operations from openapi.json: ${operations.length}`);
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  await fc
    .assert(
      fc.asyncProperty(request, async (r) => {
        try {
          return await probe(r);
        } catch (error) {
          failures.push((error as Error).message);
          throw error;
        }
      }),
      { numRuns: 500 },
    )
    .finally(() => {
      for (const f of failures.slice(-3)) t.log(f.slice(0, 600));
    });
  async function probe(r: typeof request extends fc.Arbitrary<infer R> ? R : never): Promise<boolean> {
    {
      const op = operations[r.op % operations.length] as Operation;
      let i = 0;
      const path = op.path.replace(/\{\w+\}/g, () => r.values[i++ % 3] as string);
      const pairs = r.query.map(([n, v]) => [op.query[n % Math.max(1, op.query.length)] ?? 'x', v]);
      if (r.extraQuery) pairs.push(r.extraQuery);
      const token = tokenOf(r.role);
      const headers: Record<string, string> = {};
      if (token && r.tokenInQuery) pairs.push(['access_token', token]);
      else if (token) headers['authorization'] = `Bearer ${token}`;
      if (r.ifMatch) headers['if-match'] = r.ifMatch;
      if (r.lastEventId) headers['last-event-id'] = r.lastEventId;
      if (r.contentType) headers['content-type'] = r.contentType;
      const qs = pairs
        .map(([k, v]) => `${encodeURIComponent(k ?? '')}=${encodeURIComponent(v ?? '')}`)
        .join('&');
      const url = `${server.url}${path}${qs ? `?${qs}` : ''}`;
      const mayWrite = r.role === 'operator' || r.role === 'admin';
      const before = mayWrite ? '' : await fingerprint();
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 5000);
      try {
        const res = await fetch(url, {
          method: op.method,
          headers,
          body: op.method === 'GET' ? undefined : r.body,
          signal: controller.signal,
        });
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const type = res.headers.get('content-type') ?? '';
        let text = '';
        if (type.startsWith('text/event-stream')) controller.abort();
        else text = await res.text();
        if (res.status >= 500) throw new Error(`${op.method} ${url} -> ${res.status} ${text}`);
        if (res.status >= 400) {
          const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
          if (typeof parsed.error?.code !== 'string' || typeof parsed.error?.message !== 'string')
            throw new Error(`${op.method} ${url} -> ${res.status} without the error shape: ${text}`);
        }
        if (!mayWrite && op.writes && res.status < 400)
          throw new Error(
            `${op.method} ${url} as ${r.role} -> ${res.status}: a write without a writer token`,
          );
      } catch (error) {
        if (!controller.signal.aborted) throw error;
      } finally {
        clearTimeout(timer);
      }
      if (!mayWrite) {
        const after = await fingerprint();
        if (after !== before)
          throw new Error(`${op.method} ${url} as ${r.role} changed the store: ${before} -> ${after}`);
      }
      return true;
    }
  }
  t.log(
    [...statuses.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([s, n]) => `${s}:${n}`)
      .join(' '),
  );
  t.is((await fetch(`${server.url}/api/v1/healthz`)).status, 200);
  t.is((await server.api('/jobs/fz-1')).status, 200, 'the server still answers reads');
  t.false(
    server.logLines.some((l) => l.includes('"level":50')),
    'no error was logged while it ran',
  );
});
