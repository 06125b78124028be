import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { openEsdbEventStore } from '../../src/infra/eventstore/esdb/index.ts';
import { WebhookLog } from '../../src/webhooks/webhookLog.ts';
import type { EsdbDouble } from '../helpers/esdbDouble/esdbDouble.ts';
import { startEsdbDouble } from '../helpers/esdbDouble/esdbDouble.ts';
import { waitFor } from '../helpers/runnerHarness.ts';
import {
  esdbStoreLine,
  roleOf,
  type ServeChild,
  serveChild,
  writeServeConfig,
} from '../helpers/serveChild.ts';
import { json, startTestServer } from '../helpers/testServer.ts';

/**
 * Issue 18, webhooks cluster-wide: two `operator serve` processes on one EventStoreDB (the gRPC double).
 * Endpoints are registered through the API of the leader A; jobs run on A; A is killed with -9 while a
 * stage runs and deliveries are still queued. B takes the lease over and sends from each endpoint's
 * checkpoint in the store: the receiver gets every event of the run at least once, in order per endpoint,
 * signed with the secret the registration answered. B lists the endpoints; while it is a standby its job
 * views show queue position and lane; the registry in the store never holds a secret in clear.
 */
const TTL_MS = 2000;
const KEY = randomBytes(32).toString('base64');
/** Each answer of the receiver waits this long: deliveries lag the run, so some are pending at the kill. */
const ANSWER_DELAY_MS = 150;

type Operator = ServeChild;

async function serve(dir: string, double: EsdbDouble, name: string): Promise<Operator> {
  const configPath = await writeServeConfig(join(dir, name), [
    esdbStoreLine(double.connectionString, TTL_MS),
    'pipeline: {default: flow, lanes: 1, stage_kill_grace: 300ms}',
    'webhooks:',
    '  allow_targets: [127.0.0.1/32]',
    '  retry: {first_delay: 50ms, max_delay: 200ms, give_up_after: 10m, jitter: 0}',
    'pipelines:',
    '  flow:',
    '    stages:',
    "      - {name: fetch, retries: 1, run: 'sleep 0.3'}",
    "      - {name: render, retries: 1, run: 'sleep 1'}",
    "      - {name: publish, retries: 1, run: 'sleep 0.2'}",
  ]);
  // The key reaches every process the same way: from the environment.
  return serveChild(configPath, { name, env: { OPERATOR_WEBHOOK_KEY: KEY } });
}

interface Hit {
  id: string;
  body: string;
  verified: boolean;
}

/** One receiver, a path per endpoint; every request is checked against that endpoint's secret. */
class Receiver {
  readonly hits = new Map<string, Hit[]>();
  readonly secrets = new Map<string, string>();
  #server: Server | null = null;
  port = 0;

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '';
        const body = Buffer.concat(chunks).toString('utf8');
        const id = String(req.headers['webhook-id'] ?? '');
        const stamp = String(req.headers['webhook-timestamp'] ?? '');
        const signature = String(req.headers['webhook-signature'] ?? '');
        const secret = this.secrets.get(path) ?? '';
        const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
        const expected = createHmac('sha256', key).update(`${id}.${stamp}.${body}`).digest();
        const given = Buffer.from(signature.replace(/^v1,/, ''), 'base64');
        const verified = given.length === expected.length && timingSafeEqual(given, expected);
        setTimeout(() => {
          // Recorded once answered: what the operator counts as delivered.
          if (!this.hits.has(path)) this.hits.set(path, []);
          this.hits.get(path)?.push({ id, body, verified });
          res.writeHead(204).end();
        }, ANSWER_DELAY_MS);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  of(path: string): Hit[] {
    return this.hits.get(path) ?? [];
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }
}

interface Ev {
  id: string;
  position: string;
  job_id: string;
  type: string;
  stage?: string | null;
}

async function eventsAfter(op: Operator, after: string): Promise<Ev[]> {
  const out: Ev[] = [];
  let cursor = after;
  for (;;) {
    const page = (await (await op.api(`/events?after=${cursor}&limit=1000`)).json()) as {
      events: Ev[];
      next_after: string | null;
    };
    out.push(...page.events);
    if (page.events.length === 0 || page.next_after === null) return out;
    cursor = page.next_after;
  }
}

/** The ids in the order they first arrived: what a receiver deduplicating by webhook-id keeps. */
const firstArrivals = (hits: Hit[]): string[] => [...new Set(hits.map((h) => h.id))];

interface JobView {
  job_id: string;
  status: string;
  queue_position?: number | null;
  lane?: number | null;
}

test('webhooks across a takeover: registered on the leader, which dies mid-run; the new leader delivers every event at least once, in order per endpoint', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'operator-whfail-'));
  const double = await startEsdbDouble();
  const receiver = new Receiver();
  await receiver.start();
  const operators: Operator[] = [];
  t.teardown(async () => {
    for (const op of operators) op.child.kill('SIGKILL');
    await Promise.all(operators.map((op) => op.exited));
    await receiver.stop();
    await double.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const a = await serve(dir, double, 'a');
  operators.push(a);
  await waitFor('a leads', async () => (await roleOf(a)) === 'leader', 10_000);
  const b = await serve(dir, double, 'b');
  operators.push(b);
  t.is(await waitFor('b is up', () => roleOf(b), 10_000), 'standby');

  // Two endpoints, registered through the leader's API.
  const register = async (path: string, body: Record<string, unknown>) => {
    const res = await a.api('/webhooks', {
      method: 'POST',
      json: { url: `http://127.0.0.1:${receiver.port}${path}`, ...body },
    });
    t.is(res.status, 201, await res.clone().text());
    const created = await json<{ webhook: { id: string; created_position: string }; secret: string }>(res);
    receiver.secrets.set(path, created.secret);
    return { path, ...created.webhook, secret: created.secret };
  };
  const all = await register('/all', {});
  const stages = await register('/stages', {
    event_types: ['stage_started', 'stage_completed', 'job_completed'],
  });
  const endpoints = [all, stages];

  // The standby lists them too (it projects the registry from the store).
  const listed = await waitFor('b lists both endpoints', async () => {
    const { webhooks } = await json<{ webhooks: { id: string }[] }>(await b.api('/webhooks'));
    return webhooks.length === 2 ? webhooks.map((w) => w.id).sort() : undefined;
  });
  t.deepEqual(listed, [all.id, stages.id].sort());

  // Jobs on one lane: one runs, the others queue.
  const jobIds: string[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await a.api('/jobs', { method: 'POST', json: { pipeline: 'flow' } });
    jobIds.push((await json<{ job: { job_id: string } }>(res)).job.job_id);
  }
  // The standby's job views carry queue position and lane, as the leader's do.
  const views = await waitFor('queue facts on the standby', async () => {
    const seen = await Promise.all(jobIds.map(async (id) => json<JobView>(await b.api(`/jobs/${id}`))));
    const running = seen.filter((v) => v.status === 'running');
    const queued = seen.filter((v) => v.status === 'queued');
    return running.length === 1 &&
      running[0]?.lane === 1 &&
      queued.length >= 2 &&
      queued.every((v) => typeof v.queue_position === 'number')
      ? seen
      : undefined;
  });
  const queuedPositions = views.filter((v) => v.status === 'queued').map((v) => v.queue_position);
  t.deepEqual(
    queuedPositions,
    queuedPositions.map((_, i) => i + 1),
    'FIFO: 1, 2, ... in creation order',
  );
  for (const view of views) {
    const onLeader = await json<JobView>(await a.api(`/jobs/${view.job_id}`));
    if (onLeader.status === view.status)
      t.like(onLeader, { queue_position: view.queue_position, lane: view.lane }, 'the same answer on both');
  }

  // Kill the leader mid-run: a render stage is running and the receiver has had only part of the run.
  const first = jobIds[0] as string;
  await waitFor(
    'a render stage running',
    async () => {
      const { events } = await json<{ events: Ev[] }>(await a.api(`/jobs/${first}/events?limit=1`));
      const last = events.at(-1);
      return last?.type === 'stage_started' && last.stage === 'render';
    },
    20_000,
  );
  const eventsAtKill = (await eventsAfter(a, all.created_position)).length;
  a.child.kill('SIGKILL');
  const deliveredAtKill = receiver.of('/all').length;
  await a.exited;
  const killedAt = Date.now();
  t.log(`killed A with ${eventsAtKill} events of the run written, ${deliveredAtKill} delivered on /all`);
  t.true(deliveredAtKill < eventsAtKill, 'deliveries were pending at the kill');
  await waitFor('b leads', async () => (await roleOf(b)) === 'leader', 10_000);
  t.log(`B leads ${Date.now() - killedAt} ms after the kill`);

  // The run finishes on B (the interrupted stage retried), and every event reaches the receiver.
  await waitFor(
    'every job completed',
    async () => {
      const states = await Promise.all(
        jobIds.map(async (id) => (await json<JobView>(await b.api(`/jobs/${id}`))).status),
      );
      return states.every((s) => s === 'completed');
    },
    60_000,
  );
  const wanted = async (endpoint: (typeof endpoints)[number]) => {
    const events = await eventsAfter(b, endpoint.created_position);
    const types = endpoint === stages ? new Set(['stage_started', 'stage_completed', 'job_completed']) : null;
    return events.filter((e) => types === null || types.has(e.type)).map((e) => e.id);
  };
  for (const endpoint of endpoints) {
    const expected = await wanted(endpoint);
    t.true(expected.length > 0);
    await waitFor(
      `every event on ${endpoint.path}`,
      () => expected.every((id) => receiver.of(endpoint.path).some((h) => h.id === id)),
      30_000,
    );
    const hits = receiver.of(endpoint.path);
    t.deepEqual(
      firstArrivals(hits),
      expected,
      `${endpoint.path}: every event, in order (deduplicated by webhook-id)`,
    );
    t.true(
      hits.every((h) => h.verified),
      `${endpoint.path}: every request signed with the registered secret`,
    );
    t.true(
      hits.every((h) => expected.includes(h.id)),
      `${endpoint.path}: nothing it did not ask for`,
    );
    t.log(
      `${endpoint.path}: ${expected.length} events, ${hits.length - expected.length} sent twice across the takeover`,
    );
    // Each body is the event its webhook-id names.
    t.true(hits.every((h) => (JSON.parse(h.body) as { id: string }).id === h.id));
  }
  t.true(
    receiver
      .of('/all')
      .some((h) => (JSON.parse(h.body) as { message?: string }).message?.includes('operator restarted')),
    'the interrupted attempt is part of the run',
  );

  // B lists the endpoints it now sends to, and shows their deliveries done.
  const { webhooks } = await json<{ webhooks: { id: string; enabled: boolean }[] }>(await b.api('/webhooks'));
  t.deepEqual(webhooks.map((w) => w.id).sort(), [all.id, stages.id].sort());
  await waitFor('b shows every delivery done', async () => {
    const page = await json<{ deliveries: { status: string }[] }>(
      await b.api(`/webhooks/${all.id}/deliveries?limit=1000&status=pending`),
    );
    return page.deliveries.length === 0;
  });

  // No secret in clear in the store: every event of the registry stream, and everything else.
  const store = await openEsdbEventStore({ connectionString: double.connectionString });
  t.teardown(() => store.close());
  const registry = [];
  for await (const e of new WebhookLog(store).readRegistry()) registry.push(e);
  t.is(registry.filter((e) => e.type === 'webhook_endpoint_registered').length, 2);
  const everything: string[] = [];
  for await (const e of store.readAll()) everything.push(JSON.stringify(e));
  for (const endpoint of endpoints) {
    const keyPart = endpoint.secret.slice('whsec_'.length);
    for (const e of registry) t.false(JSON.stringify(e).includes(keyPart), `registry event ${e.revision}`);
    t.false(
      everything.some((text) => text.includes(keyPart)),
      'no event of the store holds it',
    );
  }
  t.false(
    everything.some((text) => text.includes(KEY)),
    'nor the key',
  );
});

test('on EventStoreDB without webhooks.secret_key, registration through the API is refused with a clear message', async (t) => {
  const double = await startEsdbDouble();
  t.teardown(() => double.stop());
  const s = await startTestServer({
    store: { kind: 'eventstoredb', connection_string: double.connectionString },
  });
  t.teardown(() => s.stop());
  const res = await s.api('/webhooks', { method: 'POST', json: { url: 'https://hooks.example.com/x' } });
  t.is(res.status, 409);
  const body = await json<{ error: { code: string; message: string } }>(res);
  t.is(body.error.code, 'webhook_key_missing');
  t.regex(body.error.message, /webhooks\.secret_key.*OPERATOR_WEBHOOK_KEY/);
  t.deepEqual((await json<{ webhooks: unknown[] }>(await s.api('/webhooks'))).webhooks, []);
});
