import test from 'ava';
import type { TestServer } from '../helpers/testServer.ts';
import { startTestServer } from '../helpers/testServer.ts';

let server: TestServer;
test.before(async () => {
  server = await startTestServer({
    server: { port: 0, host: '127.0.0.1', cors_origins: ['http://ui.example'] },
  });
});
test.after.always(async () => {
  await server?.stop();
});

test('a listed origin gets its preflight answered, Last-Event-ID allowed', async (t) => {
  const res = await fetch(`${server.url}/api/v1/jobs/x/events/stream`, {
    method: 'OPTIONS',
    headers: {
      origin: 'http://ui.example',
      'access-control-request-method': 'GET',
      'access-control-request-headers': 'last-event-id, authorization',
    },
  });
  t.is(res.status, 204);
  t.is(res.headers.get('access-control-allow-origin'), 'http://ui.example');
  t.regex(res.headers.get('access-control-allow-headers') ?? '', /Last-Event-ID/);
  t.regex(res.headers.get('access-control-allow-headers') ?? '', /Authorization/);
  const get = await server.api('/jobs', { headers: { origin: 'http://ui.example' } });
  t.is(get.status, 200);
  t.is(get.headers.get('access-control-allow-origin'), 'http://ui.example');
});

test('an origin that is not listed gets no CORS headers', async (t) => {
  const res = await fetch(`${server.url}/api/v1/jobs`, {
    method: 'OPTIONS',
    headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' },
  });
  t.is(res.headers.get('access-control-allow-origin'), null);
  const get = await server.api('/jobs', { headers: { origin: 'http://evil.example' } });
  t.is(get.headers.get('access-control-allow-origin'), null);
});
