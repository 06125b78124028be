import { Parser } from '@asyncapi/parser';
import { createConfig, lintFromString } from '@redocly/openapi-core';
import test from 'ava';
import { EVENT_TYPES } from '../../src/domain/events.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { startTestServer } from '../helpers/testServer.ts';

/** The stream described (AsyncAPI 3.0) and the HTTP API described (OpenAPI 3.1), both checked by standard tools. */

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(() => server?.stop());

test('asyncapi.json: AsyncAPI 3.0 that @asyncapi/parser parses without errors; both channels, every message (13 events, heartbeat, connected, end)', async (t) => {
  const res = await fetch(`${server.url}/api/v1/asyncapi.json`);
  t.is(res.status, 200, 'public: no token needed');
  const text = await res.text();
  const { document, diagnostics } = await new Parser().parse(text);
  const errors = diagnostics.filter((d) => d.severity === 0);
  t.deepEqual(
    errors.map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`),
    [],
  );
  t.truthy(document);
  t.is(document?.version(), '3.0.0');
  const channels =
    document
      ?.channels()
      .all()
      .map((c) => c.address()) ?? [];
  t.deepEqual(channels.sort(), ['/events/stream', '/jobs/{id}/events/stream']);
  const jobChannel = document
    ?.channels()
    .all()
    .find((c) => c.address() === '/jobs/{id}/events/stream');
  const names =
    jobChannel
      ?.messages()
      .all()
      .map((m) => m.name()) ?? [];
  t.deepEqual(names.sort(), [...EVENT_TYPES, 'heartbeat', 'connected', 'end'].sort());
  const doc = JSON.parse(text) as {
    channels: Record<string, { description: string }>;
    info: { description: string };
  };
  t.regex(doc.channels.jobEvents?.description ?? '', /Last-Event-ID/);
  t.regex(doc.channels.jobEvents?.description ?? '', /204/);
  t.regex(doc.info.description, /names=alias/);
  t.regex(doc.info.description, /frames=named/);
  const warnings = diagnostics.filter((d) => d.severity === 1).map((d) => `${d.code}: ${d.message}`);
  t.log(`parser warnings: ${warnings.length}${warnings.length ? `\n${warnings.join('\n')}` : ''}`);
});

test("openapi.json passes the OpenAPI linter's recommended rules (@redocly/openapi-core) with no errors: servers present, public routes declare security: []", async (t) => {
  const text = await (await fetch(`${server.url}/api/v1/openapi.json`)).text();
  const config = await createConfig({ extends: ['recommended'] });
  const problems = await lintFromString({ source: text, absoluteRef: '/openapi.json', config });
  const errors = problems.filter((p) => p.severity === 'error');
  t.deepEqual(
    errors.map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer ?? ''}`),
    [],
  );
  const doc = JSON.parse(text) as {
    servers: unknown[];
    paths: Record<string, Record<string, { security?: unknown[] }>>;
  };
  t.true(doc.servers.length > 0);
  t.deepEqual(doc.paths['/api/v1/healthz']?.get?.security, []);
  t.deepEqual(doc.paths['/api/v1/asyncapi.json']?.get?.security, []);
  t.deepEqual(doc.paths['/api/v1/jobs']?.get?.security, [{ bearer: [] }]);
  const warnings = problems.filter((p) => p.severity === 'warn').map((p) => p.ruleId);
  t.log(`linter warnings: ${warnings.length} (${[...new Set(warnings)].join(', ')})`);
});

test('openapi.json documents what every route with a body answers: a too large body (413), not JSON (415), invalid (400)', async (t) => {
  const doc = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as {
    paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, unknown> }>>;
  };
  const withBody = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops)
      .filter(([, op]) => op.requestBody !== undefined)
      .map(([method, op]) => ({ at: `${method} ${path}`, statuses: Object.keys(op.responses) })),
  );
  t.true(withBody.length >= 10, `operations with a body: ${withBody.length}`);
  for (const { at, statuses } of withBody)
    for (const status of ['400', '413', '415']) t.true(statuses.includes(status), `${at} lists ${status}`);
  // and the server does answer them: a cancel with a text body is 415, as documented
  const created = await server.api('/jobs', { method: 'POST', json: { pipeline: 'external' } });
  const id = ((await created.json()) as { job: { job_id: string } }).job.job_id;
  const cancel = await server.api(`/jobs/${id}/cancel`, {
    method: 'POST',
    body: 'stop',
    headers: { 'content-type': 'text/plain' },
  });
  t.is(cancel.status, 415);
});
