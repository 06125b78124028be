import { createHmac, timingSafeEqual } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import type { Config, ConfigInput } from '../../src/infra/config/configSchema.ts';
import { createLogger } from '../../src/infra/logging/logger.ts';
import type { RunningServer } from '../../src/server/startServer.ts';
import { startServer } from '../../src/server/startServer.ts';
import { serveChild, writeServeConfig } from '../helpers/serveChild.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { json, startTestServer, TOKENS, testConfig } from '../helpers/testServer.ts';
import { eventually } from '../helpers/webhookFixtures.ts';

// The receiver checks signatures with its own code, following the Standard Webhooks text; it imports
// nothing from the sender.

interface Received {
  id: string;
  timestamp: number;
  body: string;
  verified: boolean;
  /** What the receiver answered. */
  status: number;
}

/** Standard Webhooks verification: HMAC-SHA256 over `id.timestamp.body`, key = base64 after `whsec_`. */
function verifySignature(
  secret: string,
  id: string,
  timestamp: string,
  body: string,
  header: string,
): boolean {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
  return (
    fresh &&
    header.split(' ').some((candidate) => {
      const [version, signature] = candidate.split(',');
      if (version !== 'v1' || !signature) return false;
      const given = Buffer.from(signature, 'base64');
      return given.length === expected.length && timingSafeEqual(given, expected);
    })
  );
}

type Behaviour = (
  req: IncomingMessage,
  received: Received,
) => { status: number; headers?: Record<string, string> };

class Receiver {
  readonly received: Received[] = [];
  secret = '';
  behaviour: Behaviour = (_req, r) => ({ status: r.verified ? 204 : 401 });
  #server: Server | null = null;
  port = 0;

  /** The deliveries it accepted (answered 2xx), in arrival order. */
  get accepted(): Received[] {
    return this.received.filter((r) => r.status >= 200 && r.status < 300);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => this.#handle(req, res));
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Down: the port refuses connections until `start()` again. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const id = String(req.headers['webhook-id'] ?? '');
      const timestamp = String(req.headers['webhook-timestamp'] ?? '');
      const signature = String(req.headers['webhook-signature'] ?? '');
      const received: Received = {
        id,
        timestamp: Number(timestamp),
        body,
        verified: verifySignature(this.secret, id, timestamp, body, signature),
        status: 0,
      };
      const answer = this.behaviour(req, received);
      received.status = answer.status;
      this.received.push(received);
      res.writeHead(answer.status, answer.headers).end();
    });
  }
}

async function receiver(t: { teardown(fn: () => Promise<void>): void }): Promise<Receiver> {
  const r = new Receiver();
  await r.start();
  t.teardown(() => r.stop());
  return r;
}

// The receivers listen on loopback, which webhooks may reach only when the allowlist opens it.
const LOOPBACK_RECEIVERS = ['127.0.0.1/32'];

const FAST: Partial<ConfigInput> = {
  webhooks: {
    allow_targets: LOOPBACK_RECEIVERS,
    timeout: '2s',
    retry: { first_delay: '30ms', max_delay: '150ms', give_up_after: '10m', jitter: 0.2 },
    disable_after: '1h',
  },
};

/** `eventually`, with more time: deliveries here go through retries and backoff. */
const waitFor: typeof eventually = (what, check, timeoutMs = 15_000) => eventually(what, check, timeoutMs);

type Api = TestServer['api'];
interface Endpoint {
  id: string;
  enabled: boolean;
  created_position: string | null;
  disabled_reason: string | null;
  disabled_at: string | null;
  consecutive_failures: number;
}
interface Delivery {
  id: string;
  event_id: string;
  status: string;
  attempt_count: number;
  attempts: {
    status_code: number | null;
    error_class: string | null;
    error: string | null;
    latency_ms: number;
  }[];
}

async function register(
  api: Api,
  body: Record<string, unknown>,
): Promise<{ webhook: Endpoint; secret: string }> {
  const res = await api('/webhooks', { method: 'POST', json: body });
  if (res.status !== 201) throw new Error(`register: ${res.status} ${await res.text()}`);
  // the answer holds the signing secret: no cache may keep it
  if (res.headers.get('cache-control') !== 'no-store')
    throw new Error(`register: Cache-Control ${res.headers.get('cache-control')}`);
  return json(res);
}

async function deliveries(api: Api, id: string): Promise<Delivery[]> {
  return (await json<{ deliveries: Delivery[] }>(await api(`/webhooks/${id}/deliveries?limit=1000`)))
    .deliveries;
}

/** Job traffic over the API: each job created, started and its first stage run. */
async function traffic(api: Api, jobs: number, prefix: string): Promise<void> {
  for (let i = 0; i < jobs; i++) {
    const id = `${prefix}${i}`;
    const steps: [string, unknown][] = [
      ['/jobs', { pipeline: 'external', id }],
      [`/jobs/${id}/start`, {}],
      [`/jobs/${id}/stages/ingest/start`, {}],
      [`/jobs/${id}/stages/ingest/complete`, { duration_ms: i }],
    ];
    for (const [path, body] of steps) {
      const res = await api(path, { method: 'POST', as: 'operator', json: body });
      if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    }
  }
}

interface Ev {
  id: string;
  position: string;
  job_id: string;
  type: string;
}

/** Every event after `after` (the endpoint's created_position), in position order. */
async function eventsAfter(api: Api, after: string | null): Promise<Ev[]> {
  const out: Ev[] = [];
  let cursor = after ?? '-1';
  for (;;) {
    const page = await json<{ events: Ev[]; next_after: string | null }>(
      await api(`/events?after=${cursor}&limit=1000`),
    );
    out.push(...page.events);
    if (page.events.length === 0 || page.next_after === null) return out;
    cursor = page.next_after;
  }
}

function assertInOrderOnce(
  t: { deepEqual: (a: unknown, b: unknown, m?: string) => void },
  got: Received[],
  expected: Ev[],
) {
  t.deepEqual(
    got.map((r) => r.id),
    expected.map((e) => e.id),
    'each event accepted exactly once, in position order',
  );
  t.deepEqual(
    got.map((r) => (JSON.parse(r.body) as Ev).position),
    expected.map((e) => e.position),
  );
}

let server: TestServer;
test.before(async () => {
  server = await startTestServer(FAST);
});
test.after.always(async () => {
  await server?.stop();
});

test.serial(
  'admin only; the secret is shown once; the operator port is refused, allowlist or not',
  async (t) => {
    for (const as of ['operator', 'viewer'] as const) {
      t.is((await server.api('/webhooks', { as })).status, 403);
      t.is(
        (await server.api('/webhooks', { method: 'POST', as, json: { url: 'http://192.0.2.1/' } })).status,
        403,
      );
    }
    t.is((await server.api('/webhooks', { as: null })).status, 401);
    const { webhook, secret } = await register(server.api, {
      url: 'http://192.0.2.1/never',
      event_types: ['job_failed'],
    });
    t.regex(secret, /^whsec_[A-Za-z0-9+/]{32}$/);
    const shown = await (await server.api(`/webhooks/${webhook.id}`)).text();
    t.false(shown.includes(secret));
    t.false(shown.includes('secret'));
    const listed = await (await server.api('/webhooks')).text();
    t.false(listed.includes(secret));
    // 127.0.0.1/32 is allowed (the receivers), but never on the operator's own port
    for (const host of ['127.0.0.1', 'localhost', '[::1]', '127.0.0.2', '[::ffff:127.0.0.1]', '0.0.0.0']) {
      const res = await server.api('/webhooks', {
        method: 'POST',
        json: { url: `http://${host}:${server.port}/x` },
      });
      t.is(res.status, 400, host);
      const { error } = await json<{ error: { code: string; message: string } }>(res);
      t.is(error.code, 'webhook_target_forbidden');
      t.regex(error.message, /own port/, host);
    }
    const bad = await server.api('/webhooks', { method: 'POST', json: { url: 'ftp://example.com/' } });
    t.is(bad.status, 400);
    const badSecret = await server.api('/webhooks', {
      method: 'POST',
      json: { url: 'http://192.0.2.1/', secret: 'x' },
    });
    t.is(badSecret.status, 400);
    t.is((await server.api(`/webhooks/${webhook.id}`, { method: 'DELETE' })).status, 204);
    t.is((await server.api(`/webhooks/${webhook.id}`)).status, 404);
    const spec = await json<{ paths: Record<string, unknown> }>(
      await server.api('/openapi.json', { as: null }),
    );
    for (const path of [
      '/api/v1/webhooks',
      '/api/v1/webhooks/{id}',
      '/api/v1/webhooks/{id}/deliveries',
      '/api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver',
      '/api/v1/webhooks/{id}/disable',
    ])
      t.truthy(spec.paths[path], path);
  },
);

test.serial(
  'ordered delivery: every event once, in position order, signed, while the receiver fails at random',
  async (t) => {
    const r = await receiver(t);
    let n = 0;
    // every third request fails, and answers take a varying time: order must hold anyway
    r.behaviour = (_req, got) => {
      n++;
      return { status: !got.verified ? 401 : n % 3 === 0 ? 503 : 200 };
    };
    const { webhook, secret } = await register(server.api, {
      url: r.url,
      jobs: ['ord0', 'ord1', 'ord2', 'ord3'],
    });
    r.secret = secret;
    await traffic(server.api, 4, 'ord');
    const expected = (await eventsAfter(server.api, webhook.created_position)).filter((e) =>
      e.job_id.startsWith('ord'),
    );
    t.is(expected.length, 16);
    await waitFor('all accepted', () => r.accepted.length >= expected.length);
    t.true(r.received.every((x) => x.verified));
    assertInOrderOnce(t, r.accepted, expected);
    // retries kept the webhook-id: the failed ones came back under the same id
    const failed = r.received.filter((x) => x.status === 503);
    t.true(failed.length > 0);
    t.true(failed.every((f) => r.accepted.some((a) => a.id === f.id)));
    const rows = await waitFor('all delivered', async () => {
      const list = await deliveries(server.api, webhook.id);
      return list.length === expected.length && list.every((d) => d.status === 'delivered') ? list : null;
    });
    // newest first; attempts recorded with status code and latency
    t.deepEqual(
      rows.map((d) => d.event_id),
      expected.map((e) => e.id).reverse(),
    );
    const retried = rows.filter((d) => d.attempt_count > 1);
    t.true(retried.length > 0);
    for (const d of retried) {
      t.is(d.attempts[0]?.status_code, 503);
      t.is(d.attempts[0]?.error, 'HTTP 503');
      t.is(d.attempts[0]?.error_class, 'http_status');
      t.is(d.attempts.at(-1)?.error_class, null);
      t.is(d.attempts.at(-1)?.status_code, 200);
      t.true(d.attempts.every((a) => typeof a.latency_ms === 'number'));
    }
    // redeliver: the same webhook-id again
    const first = rows.at(-1) as Delivery;
    const before = r.accepted.length;
    const res = await server.api(`/webhooks/${webhook.id}/deliveries/${first.id}/redeliver`, {
      method: 'POST',
    });
    t.is(res.status, 202);
    await waitFor('redelivered', () => r.accepted.length > before);
    t.is(r.accepted.at(-1)?.id, first.event_id);
    t.is(
      (await server.api(`/webhooks/${webhook.id}/deliveries/999999/redeliver`, { method: 'POST' })).status,
      404,
    );
    await server.api(`/webhooks/${webhook.id}`, { method: 'DELETE' });
  },
);

test.serial('receiver down for a while, then up: every event delivered, none lost, in order', async (t) => {
  const r = await receiver(t);
  const { webhook, secret } = await register(server.api, { url: r.url, pipelines: ['external'] });
  r.secret = secret;
  await r.stop();
  await traffic(server.api, 3, 'down');
  // several attempts refused while it is down
  await waitFor('failed attempts', async () => {
    const list = await deliveries(server.api, webhook.id);
    const head = list.at(-1);
    return head &&
      head.attempt_count >= 3 &&
      head.attempts.every((a) => a.status_code === null && a.error_class === 'connection_refused')
      ? head
      : null;
  });
  const list = await deliveries(server.api, webhook.id);
  t.true(list.every((d) => d.status === 'pending'));
  t.true(
    list.slice(0, -1).every((d) => d.attempt_count === 0),
    'later deliveries wait for the first',
  );
  await r.start();
  const expected = await eventsAfter(server.api, webhook.created_position);
  t.is(expected.length, 12);
  await waitFor('all accepted', () => r.accepted.length >= expected.length);
  assertInOrderOnce(t, r.accepted, expected);
  t.true(r.accepted.every((x) => x.verified));
  await server.api(`/webhooks/${webhook.id}`, { method: 'DELETE' });
});

test.serial(
  'an admin pauses an endpoint by hand: nothing is sent while disabled, then enable resumes in order; operators and viewers may not',
  async (t) => {
    const r = await receiver(t);
    const { webhook, secret } = await register(server.api, { url: r.url, jobs: ['paused0'] });
    r.secret = secret;
    for (const as of ['operator', 'viewer'] as const)
      t.is((await server.api(`/webhooks/${webhook.id}/disable`, { method: 'POST', as })).status, 403, as);
    t.is((await server.api(`/webhooks/${webhook.id}/disable`, { method: 'POST', as: null })).status, 401);
    t.is((await server.api('/webhooks/no-such-hook/disable', { method: 'POST' })).status, 404);
    const disabled = await json<Endpoint>(
      await server.api(`/webhooks/${webhook.id}/disable`, { method: 'POST' }),
    );
    t.false(disabled.enabled);
    t.regex(disabled.disabled_reason ?? '', /^disabled by \S+/);
    await waitFor('the log line', () =>
      server.logLines.some((l) => l.includes('endpoint disabled by hand') && l.includes(webhook.id)),
    );
    // again: no change
    const again = await json<Endpoint>(
      await server.api(`/webhooks/${webhook.id}/disable`, { method: 'POST' }),
    );
    t.is(again.disabled_at, disabled.disabled_at);
    await traffic(server.api, 1, 'paused');
    const queued = await waitFor('deliveries queued', async () => {
      const list = await deliveries(server.api, webhook.id);
      return list.length >= 4 ? list : null;
    });
    t.true(queued.every((d) => d.status === 'pending' && d.attempt_count === 0));
    // retries here are tens of ms apart: nothing was sent in a quarter of a second
    await new Promise((done) => setTimeout(done, 250));
    t.is(r.received.length, 0, 'nothing sent while disabled');
    t.true(
      (await json<Endpoint>(await server.api(`/webhooks/${webhook.id}/enable`, { method: 'POST' }))).enabled,
    );
    const expected = await eventsAfter(server.api, webhook.created_position);
    await waitFor('all accepted', () => r.accepted.length >= expected.length);
    assertInOrderOnce(t, r.accepted, expected);
    await server.api(`/webhooks/${webhook.id}`, { method: 'DELETE' });
  },
);

test.serial('a redirect is not followed: a 3xx is a failed attempt', async (t) => {
  const target = await receiver(t);
  const r = await receiver(t);
  r.behaviour = () => ({ status: 307, headers: { location: target.url } });
  const { webhook, secret } = await register(server.api, { url: r.url, jobs: ['redir0'] });
  r.secret = secret;
  target.secret = secret;
  await traffic(server.api, 1, 'redir');
  const head = await waitFor('two attempts', async () => {
    const d = (await deliveries(server.api, webhook.id)).at(-1);
    return d && d.attempt_count >= 2 ? d : null;
  });
  t.is(head.status, 'pending');
  t.is(head.attempts[0]?.status_code, 307);
  t.is(head.attempts[0]?.error, 'HTTP 307: redirect not followed');
  t.is(head.attempts[0]?.error_class, 'redirect');
  t.false(JSON.stringify(head).includes(target.url), 'nothing the target sent (its Location) is kept');
  t.is(target.received.length, 0);
  t.true(r.received.length >= 2);
  await server.api(`/webhooks/${webhook.id}`, { method: 'DELETE' });
});

test.serial('a wrong secret fails verification; the right one passes', async (t) => {
  const r = await receiver(t);
  const given = `whsec_${Buffer.from('a fixed secret of 32 bytes......').toString('base64')}`;
  const { webhook, secret } = await register(server.api, { url: r.url, jobs: ['sig0'], secret: given });
  t.is(secret, given);
  r.secret = `whsec_${Buffer.from('another secret, also 32 bytes...').toString('base64')}`;
  await traffic(server.api, 1, 'sig');
  const head = await waitFor('a refused attempt', async () => {
    const d = (await deliveries(server.api, webhook.id)).at(-1);
    return d && d.attempt_count >= 1 ? d : null;
  });
  t.is(head.attempts[0]?.status_code, 401);
  t.true(r.received.length > 0);
  t.true(r.received.every((x) => !x.verified));
  // the same request, checked with the registered secret, verifies
  r.secret = given;
  await waitFor('accepted with the right secret', () => r.accepted.length >= 4);
  t.true(r.accepted.every((x) => x.verified));
  await server.api(`/webhooks/${webhook.id}`, { method: 'DELETE' });
});

/** A server of its own on a data dir that survives it, so a second one can take over. */
async function serverOn(config: Config): Promise<RunningServer & { api: Api; logLines: string[] }> {
  const logLines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      logLines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const s = await startServer({
    config,
    logger: createLogger({ level: 'info', destination }),
    runner: false,
  });
  const api: Api = (path, init = {}) => {
    const { as = 'admin', json: body, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (as) headers.set('authorization', `Bearer ${TOKENS[as]}`);
    if (body !== undefined) headers.set('content-type', 'application/json');
    return fetch(`${s.url}/api/v1${path}`, {
      ...rest,
      headers,
      body: body !== undefined ? JSON.stringify(body) : rest.body,
    });
  };
  return { ...s, api, logLines };
}

test.serial('the operator restarted mid-retry: delivery goes on where it stopped', async (t) => {
  const dir = `${server.dir}-restart`;
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = testConfig(dir, FAST);
  const r = await receiver(t);
  r.behaviour = () => ({ status: 500 });
  let first = await serverOn(config);
  t.teardown(() => first.close());
  const { webhook, secret } = await register(first.api, { url: r.url });
  r.secret = secret;
  await traffic(first.api, 2, 'rst');
  const expected = await eventsAfter(first.api, webhook.created_position);
  await waitFor(
    'a failed attempt',
    async () => ((await deliveries(first.api, webhook.id)).at(-1)?.attempt_count ?? 0) >= 2,
  );
  await first.close();
  const seenBefore = r.received.length;
  r.behaviour = (_req, got) => ({ status: got.verified ? 200 : 401 });
  first = await serverOn(config);
  await waitFor('all accepted after the restart', () => r.accepted.length >= expected.length);
  assertInOrderOnce(t, r.accepted, expected);
  t.true(r.received.slice(seenBefore).every((x) => x.verified));
  // The receiver counts a request as it arrives; the server records the delivery once the answer is back.
  const rows = await waitFor('every delivery recorded as delivered', async () => {
    const all = await deliveries(first.api, webhook.id);
    return all.every((d) => d.status === 'delivered') ? all : null;
  });
  t.is(rows.length, expected.length);
  t.true((rows.at(-1)?.attempt_count ?? 0) >= 3, 'attempts from before the restart are kept');
});

/**
 * A server of its own whose one endpoint's receiver answers `status` to everything; resolves once a job's
 * events made the sender disable the endpoint, with what the test goes on with.
 */
async function disabledEndpoint(t: ExecutionContext, name: string, status: number, disableAfter: string) {
  const dir = `${server.dir}-${name}`;
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = testConfig(dir, {
    webhooks: {
      allow_targets: LOOPBACK_RECEIVERS,
      timeout: '1s',
      retry: { first_delay: '20ms', max_delay: '50ms', give_up_after: '10m', jitter: 0 },
      disable_after: disableAfter,
    },
  });
  const s = await serverOn(config);
  t.teardown(() => s.close());
  const r = await receiver(t);
  r.behaviour = () => ({ status });
  const { webhook, secret } = await register(s.api, { url: r.url });
  r.secret = secret;
  await traffic(s.api, 1, name);
  const disabled = await waitFor('disabled', async () => {
    const e = await json<Endpoint>(await s.api(`/webhooks/${webhook.id}`));
    return e.enabled ? null : e;
  });
  return { s, r, webhook, disabled };
}

test.serial(
  'an endpoint failing past disable_after is disabled and reported; enabling it resumes in order',
  async (t) => {
    const { s, r, webhook, disabled } = await disabledEndpoint(t, 'disable', 502, '300ms');
    t.regex(disabled.disabled_reason ?? '', /HTTP 502/);
    t.true(disabled.consecutive_failures >= 2);
    // reported: a log line and a metric (written just after the row changes)
    await waitFor('the log line', () => s.logLines.some((l) => l.includes('endpoint disabled')));
    await waitFor('the metric', async () =>
      /operator_webhook_endpoints_disabled_total 1/.test(
        await (await fetch(`${s.url}/api/v1/metrics`)).text(),
      ),
    );
    t.is((await s.api(`/webhooks/${webhook.id}/deliveries/1/redeliver`, { method: 'POST' })).status, 409);
    // events while disabled are queued too, and delivered once it is enabled again
    await traffic(s.api, 1, 'late');
    r.behaviour = (_req, got) => ({ status: got.verified ? 200 : 401 });
    const enabled = await json<Endpoint>(await s.api(`/webhooks/${webhook.id}/enable`, { method: 'POST' }));
    t.true(enabled.enabled);
    const expected = await eventsAfter(s.api, webhook.created_position);
    await waitFor('all accepted', () => r.accepted.length >= expected.length);
    assertInOrderOnce(t, r.accepted, expected);
  },
);

test.serial('a target answering 410 Gone disables its endpoint at the first answer', async (t) => {
  const { s, r, disabled } = await disabledEndpoint(t, 'gone', 410, '24h');
  t.regex(disabled.disabled_reason ?? '', /410 Gone/);
  t.is(disabled.consecutive_failures, 1);
  // retries were 20-50 ms apart: a tenth of a second more would have shown the next attempt
  await new Promise((done) => setTimeout(done, 300));
  t.is(r.received.length, 1, 'one request, no retry after the 410');
  await waitFor('the log line', () => s.logLines.some((l) => l.includes('410 Gone')));
});

/** `operator serve` in a child process on `configPath`, with an api that signs in as any role; resolves once it listens. */
async function serveWithRoles(configPath: string) {
  const { child, port, exited, output } = await serveChild(configPath, { startMs: 30_000 });
  const api: Api = (path, init = {}) => {
    const { as = 'admin', json: body, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (as) headers.set('authorization', `Bearer ${TOKENS[as]}`);
    if (body !== undefined) headers.set('content-type', 'application/json');
    return fetch(`http://127.0.0.1:${port}/api/v1${path}`, {
      ...rest,
      headers,
      body: body !== undefined ? JSON.stringify(body) : rest.body,
    });
  };
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  const lines = () => output().split('\n').filter(Boolean);
  return { child, api, lines, kill };
}

test.serial(
  'sender lease after kill -9: the restarted server takes it over at once and pending deliveries resume',
  async (t) => {
    const dir = `${server.dir}-kill9`;
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const tokens = (['admin', 'operator', 'viewer'] as const).map(
      (role) => `{name: ${role}, token: ${TOKENS[role]}, role: ${role}}`,
    );
    const configPath = await writeServeConfig(dir, [
      `auth: {tokens: [${tokens.join(', ')}]}`,
      'pipeline: {default: external}',
      'pipelines: {external: {stages: [{name: ingest}, {name: publish}]}}',
      'webhooks:',
      `  allow_targets: [${LOOPBACK_RECEIVERS.join(', ')}]`,
      '  retry: {first_delay: 50ms, max_delay: 200ms, give_up_after: 10m, jitter: 0}',
    ]);
    const r = await receiver(t);
    r.behaviour = () => ({ status: 500 });
    const first = await serveWithRoles(configPath);
    t.teardown(() => first.kill());
    const { webhook, secret } = await register(first.api, { url: r.url });
    r.secret = secret;
    // The server runs its pipeline runner, which starts the job itself.
    const created = await first.api('/jobs', { method: 'POST', as: 'operator', json: { id: 'k9' } });
    t.is(created.status, 201);
    await waitFor('failed attempts', () => r.received.length >= 2);
    await first.kill();
    r.behaviour = (_req, got) => ({ status: got.verified ? 200 : 401 });

    const second = await serveWithRoles(configPath);
    t.teardown(() => second.kill());
    const restarted = Date.now();
    // The old holder's lease has most of its 15 s left: only the liveness rule lets the new one send now.
    const expected = await waitFor(
      'every pending delivery accepted',
      async () => {
        const events = await eventsAfter(second.api, webhook.created_position);
        return events.length >= 2 && r.accepted.length >= events.length ? events : null;
      },
      10_000,
    );
    t.log(`pending deliveries resumed ${Date.now() - restarted} ms after the restart listened`);
    assertInOrderOnce(t, r.accepted, expected);
    t.false(
      second.lines().some((l) => l.includes('another process holds the sender lease')),
      'the restarted server never waits for the dead holder',
    );
  },
);
