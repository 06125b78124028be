import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import type { JobEvent } from '../../src/domain/events.ts';
import { loadConfig } from '../../src/infra/config/loadConfig.ts';
import { OutboundPolicy } from '../../src/infra/net/outboundPolicy.ts';
import type { Resolve } from '../../src/webhooks/targetGuard.ts';
import { WebhookDispatcher } from '../../src/webhooks/webhookDispatcher.ts';
import { WebhookProjection } from '../../src/webhooks/webhookProjection.ts';
import { WebhookStore } from '../../src/webhooks/webhookStore.ts';
import { runCli } from '../helpers/cli.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { json, startTestServer } from '../helpers/testServer.ts';
import { eventually, startHookReceiver, testEndpoint } from '../helpers/webhookFixtures.ts';

/**
 * Doors of outbound webhooks (server-side request forgery): a webhook may reach only public addresses,
 * judged by address (every spelling of it), at registration for literal hosts and at connect time for
 * every address a name resolves to; `webhooks.allow_targets` opens exactly what it lists, never the
 * operator's own port.
 */

interface ErrorBody {
  error: { code: string; message: string; details?: { address?: string; reason?: string } };
}

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(async () => {
  await server?.stop();
});

async function register(s: TestServer, url: string): Promise<Response> {
  return s.api('/webhooks', { method: 'POST', json: { url } });
}

/** Each probe of the issue (and its relatives), refused with 400 and the error shape, and not registered. */
const PROBES: readonly [door: string, url: string, address: string][] = [
  ['cloud metadata 169.254.169.254', 'http://169.254.169.254/latest/meta-data', '169.254.169.254'],
  ['a private (RFC 1918) Redis at 10.0.0.1:6379', 'http://10.0.0.1:6379/', '10.0.0.1'],
  ['a unique local IPv6 address [fd00::1]', 'http://[fd00::1]/', 'fd00::1'],
  ['EventStoreDB on loopback 127.0.0.1:2113', 'http://127.0.0.1:2113/', '127.0.0.1'],
  ['SSH on loopback 127.0.0.1:22', 'http://127.0.0.1:22/', '127.0.0.1'],
  [
    'IPv4-mapped loopback [::ffff:127.0.0.1]:8008',
    'http://[::ffff:127.0.0.1]:8008/api/v1/jobs',
    '::ffff:7f00:1',
  ],
  ['IPv4-compatible loopback [::127.0.0.1]:8008', 'http://[::127.0.0.1]:8008/', '::7f00:1'],
  ['carrier-grade NAT 100.64.0.1', 'http://100.64.0.1/', '100.64.0.1'],
  ['IPv4 multicast 224.0.0.251', 'http://224.0.0.251/', '224.0.0.251'],
  ['IPv6 multicast [ff02::1]', 'http://[ff02::1]/', 'ff02::1'],
  ['the unspecified IPv4 address 0.0.0.0', 'http://0.0.0.0:8008/', '0.0.0.0'],
  ['the unspecified IPv6 address [::]', 'http://[::]:8008/', '::'],
  ['the broadcast address 255.255.255.255', 'http://255.255.255.255/', '255.255.255.255'],
  ['an IPv6 link-local address [fe80::1]', 'http://[fe80::1]/', 'fe80::1'],
  ['IPv6 loopback [::1]', 'http://[::1]/', '::1'],
  ['NAT64 of loopback [64:ff9b::127.0.0.1]', 'http://[64:ff9b::127.0.0.1]/', '64:ff9b::7f00:1'],
  ['6to4 of a private address [2002:a00:1::]', 'http://[2002:a00:1::]/', '2002:a00:1::'],
  ['loopback spelt in decimal (2130706433)', 'http://2130706433/', '127.0.0.1'],
  ['loopback spelt in hex (0x7f.1)', 'http://0x7f.1/', '127.0.0.1'],
  ['the localhost name', 'http://localhost:9000/', '127.0.0.1'],
];

for (const [door, url, address] of PROBES) {
  test(`webhook target: ${door} is refused at registration (400)`, async (t) => {
    const res = await register(server, url);
    t.is(res.status, 400);
    const body = await json<ErrorBody>(res);
    t.is(body.error.code, 'webhook_target_forbidden');
    t.is(body.error.details?.address, address);
    t.regex(body.error.message, /allow_targets/, 'says how to open it');
    t.false(body.error.message.includes('meta-data'), 'the URL is quoted without its path');
    const listed = await json<{ webhooks: { url: string }[] }>(await server.api('/webhooks'));
    t.false(
      listed.webhooks.some((w) => w.url === new URL(url).href),
      'not registered',
    );
  });
}

test("webhook target: the operator's own port is refused in every loopback spelling, allowlist or not", async (t) => {
  const open = await startTestServer({ webhooks: { allow_targets: ['127.0.0.0/8', '::/0', 'localhost'] } });
  t.teardown(() => open.stop());
  for (const host of ['127.0.0.1', '[::ffff:127.0.0.1]', '[::127.0.0.1]', '[::1]', 'localhost', '0.0.0.0']) {
    const res = await register(open, `http://${host}:${open.port}/api/v1/jobs`);
    t.is(res.status, 400, host);
    t.regex((await json<ErrorBody>(res)).error.message, /own port/, host);
  }
});

// A brute-force reference, written from the IANA special-purpose registry independently of the guard:
// inclusive [first, last] ranges of IPv4 addresses a webhook may not reach.
const REFERENCE: readonly [string, string][] = [
  ['0.0.0.0', '0.255.255.255'],
  ['10.0.0.0', '10.255.255.255'],
  ['100.64.0.0', '100.127.255.255'],
  ['127.0.0.0', '127.255.255.255'],
  ['169.254.0.0', '169.254.255.255'],
  ['172.16.0.0', '172.31.255.255'],
  ['192.0.0.0', '192.0.0.255'],
  ['192.168.0.0', '192.168.255.255'],
  ['198.18.0.0', '198.19.255.255'],
  ['224.0.0.0', '255.255.255.255'], // multicast, reserved, broadcast
];
const toInt = (a: string) => a.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
const dotted = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
const hex = (n: number) => n.toString(16);
const referenceDenies = (n: number) => REFERENCE.some(([lo, hi]) => n >= toInt(lo) && n <= toInt(hi));

/** Any IPv4 address, with a bias to the edges of every range (where an off-by-one would hide). */
const ipv4 = fc.oneof(
  fc.nat({ max: 2 ** 32 - 1 }),
  fc
    .tuple(fc.constantFrom(...REFERENCE.flat().map(toInt)), fc.integer({ min: -2, max: 2 }))
    .map(([edge, delta]) => Math.min(2 ** 32 - 1, Math.max(0, edge + delta))),
);

/** The spellings of one IPv4 address that lead to it: plain and every IPv6 embedding. */
function spellings(n: number): Record<string, string> {
  const d = dotted(n);
  return {
    plain: `http://${d}/`,
    mapped: `http://[::ffff:${d}]/`,
    translated: `http://[::ffff:0:${d}]/`,
    compatible: `http://[::${d}]/`,
    nat64: `http://[64:ff9b::${d}]/`,
    '6to4': `http://[2002:${hex(n >>> 16)}:${hex(n & 0xffff)}::1]/`,
    teredo: `http://[2001:0:4136:e378:8000:63bf:${hex((~n >>> 16) & 0xffff)}:${hex(~n & 0xffff)}]/`,
  };
}

test('webhook target: property — the guard agrees with a brute-force range table for every IPv4 address, plain and embedded in IPv6', (t) => {
  const policy = new OutboundPolicy();
  fc.assert(
    fc.property(ipv4, (n) => {
      const expected = referenceDenies(n);
      for (const [form, url] of Object.entries(spellings(n))) {
        // The WHATWG parser rewrites the host first ([::ffff:127.0.0.1] -> [::ffff:7f00:1]), as for a request.
        const refused = policy.urlRefusal(new URL(url), null) !== undefined;
        if (refused !== expected)
          throw new Error(`${dotted(n)} as ${form} (${new URL(url).host}): refused ${refused}`);
      }
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('webhook target: property — over HTTP, registration answers 400 exactly for the denied addresses, plain and IPv4-mapped', async (t) => {
  await fc.assert(
    fc.asyncProperty(ipv4, fc.constantFrom('plain', 'mapped'), async (n, form) => {
      const url = spellings(n)[form] as string;
      const res = await register(server, url);
      const expected = referenceDenies(n) ? 400 : 201;
      if (res.status === 201) {
        const { webhook } = await json<{ webhook: { id: string } }>(res);
        await server.api(`/webhooks/${webhook.id}`, { method: 'DELETE' });
      } else await res.arrayBuffer();
      if (res.status !== expected) throw new Error(`${url}: ${res.status}, expected ${expected}`);
    }),
    // The failing request's own error in the report: ava prints the message, not its cause.
    { numRuns: 60, includeErrorInReport: true },
  );
  t.pass();
});

test('webhook target: property — an allowlisted range opens exactly itself', (t) => {
  fc.assert(
    fc.property(ipv4, ipv4, fc.integer({ min: 8, max: 32 }), (n, net, prefix) => {
      const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
      const network = (net & mask) >>> 0;
      const policy = new OutboundPolicy([`${dotted(network)}/${prefix}`]);
      const inRange = (n & mask) >>> 0 === network;
      for (const form of ['plain', 'mapped'] as const) {
        const allowed = policy.urlRefusal(new URL(spellings(n)[form] as string), null) === undefined;
        if (allowed !== (inRange || !referenceDenies(n)))
          throw new Error(`${dotted(n)} (${form}) with ${dotted(network)}/${prefix}: allowed ${allowed}`);
      }
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('webhook target: the allowlist opens exactly what it lists, over HTTP, and deliveries reach it', async (t) => {
  const receiver = await startHookReceiver();
  t.teardown(() => receiver.close());
  const s = await startTestServer({
    webhooks: { allow_targets: ['127.0.0.1/32', 'hooks.internal.test'], retry: { first_delay: '50ms' } },
  });
  t.teardown(() => s.stop());
  for (const url of [
    receiver.url,
    `http://[::ffff:127.0.0.1]:${receiver.port}/x`,
    'http://hooks.internal.test/x',
  ])
    t.is((await register(s, url)).status, 201, url);
  for (const url of [
    `http://127.0.0.2:${receiver.port}/`,
    `http://[::1]:${receiver.port}/`,
    'http://10.0.0.1/',
    'http://169.254.169.254/',
    `http://localhost:${receiver.port}/`, // resolves to ::1 as well, which is not listed
    `http://127.0.0.1:${s.port}/`,
  ])
    t.is((await register(s, url)).status, 400, url);
  const created = await s.api('/jobs', { method: 'POST', as: 'operator', json: { id: 'allowed1' } });
  t.is(created.status, 201);
  await eventually('a delivery on the allowed receiver', () => receiver.received.length > 0);
  t.is(JSON.parse(receiver.received[0]?.body ?? '{}').job_id, 'allowed1');
});

test('webhook target: an endpoint a smaller allowlist no longer opens is disabled at start and cannot be re-enabled', async (t) => {
  const first = await startTestServer({ webhooks: { allow_targets: ['10.0.0.0/8'] } });
  const created = await register(first, 'http://10.0.0.1:9/hook');
  t.is(created.status, 201);
  const { webhook } = await json<{ webhook: { id: string } }>(created);
  await first.close();
  const again = await startTestServer({}, { dir: first.dir });
  t.teardown(() => again.stop());
  const endpoint = await json<{ enabled: boolean; disabled_reason: string }>(
    await again.api(`/webhooks/${webhook.id}`),
  );
  t.false(endpoint.enabled);
  t.regex(endpoint.disabled_reason, /10\.0\.0\.1, a private address \(10\.0\.0\.0\/8/);
  const enable = await again.api(`/webhooks/${webhook.id}/enable`, { method: 'POST' });
  t.is(enable.status, 400);
  t.is((await json<ErrorBody>(enable)).error.code, 'webhook_target_forbidden');
  t.true(again.logLines.some((l) => l.includes('webhooks: disabled') && l.includes(webhook.id)));
});

test('webhook target: a config endpoint with a denied literal address refuses the start and names the key', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'operator-sec-wh-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'operator.yaml');
  const endpoint = (url: string) =>
    `{id: internal, url: '${url}', secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}`;
  const write = (webhooks: string) =>
    writeFile(
      file,
      [
        'server: {port: 0}',
        `storage: {data_dir: ${join(dir, 'data')}, runs_dir: ${join(dir, 'runs')}}`,
        `webhooks: ${webhooks}`,
      ].join('\n'),
    );
  await write(`{endpoints: [${endpoint('http://user:pw@10.0.0.1:6379/x?token=abc')}]}`);
  const error = t.throws(() => loadConfig({ path: file, env: {} }));
  t.regex(
    error?.message ?? '',
    /webhooks\.endpoints(\[0\]|\.0)\.url: .*10\.0\.0\.1.*10\.0\.0\.0\/8.*allow_targets/,
  );
  t.false(error?.message.includes('pw@'), 'no credentials in the message');
  const cli = await runCli(['serve', '--config', file]);
  t.is(cli.code, 2);
  t.regex(cli.stderr, /webhooks\.endpoints.*10\.0\.0\.1/);
  // listed, the same endpoint is accepted; a malformed entry is named
  await write(`{allow_targets: [10.0.0.0/8], endpoints: [${endpoint('http://10.0.0.1:6379/')}]}`);
  t.is(loadConfig({ path: file, env: {} }).webhooks.allow_targets.length, 1);
  await write(`{allow_targets: ['http://10.0.0.1/']}`);
  t.throws(() => loadConfig({ path: file, env: {} }), {
    message: /webhooks\.allow_targets(\[0\]|\.0): .*not a CIDR/,
  });
});

/** A dispatcher on a fresh outbox with one pending delivery to `url`, resolving names with `resolve`. */
async function dispatchOnce(
  t: { teardown(fn: () => Promise<void>): void },
  url: string,
  resolve: Resolve,
  allowTargets: string[] = [],
) {
  const dir = await mkdtemp(join(tmpdir(), 'operator-sec-dns-'));
  const store = WebhookStore.open(dir);
  await store.putEndpoint(testEndpoint({ id: 'rebind', url }));
  const event: JobEvent = {
    id: 'e1',
    job_id: 'j1',
    seq: 0,
    position: '1',
    ts: '2026-01-01T00:00:00.000Z',
    type: 'job_created',
    stage: null,
    status: 'queued',
    message: '',
    payload: {},
    actor: 'root',
  };
  await new WebhookProjection({ store }).apply([event]);
  const dispatcher = new WebhookDispatcher({
    store,
    policy: { schedule: [60_000], jittered: (d) => d, disableAfterMs: 1e9 },
    timeoutMs: 2000,
    guard: { policy: new OutboundPolicy(allowTargets), ownPort: () => null, resolve },
  });
  t.teardown(async () => {
    await dispatcher.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  dispatcher.start();
  return eventually('the first attempt', () => {
    const d = store.delivery('rebind', '1');
    return d && d.attempt_count > 0 ? d : null;
  });
}

test('webhook target: DNS rebinding — a name that resolves to loopback fails at connect time, recorded as target_denied', async (t) => {
  const receiver = await startHookReceiver();
  t.teardown(() => receiver.close());
  const url = `http://rebind.test:${receiver.port}/hook`;
  const delivery = await dispatchOnce(t, url, async () => [{ address: '127.0.0.1', family: 4 }]);
  t.is(delivery.status, 'pending');
  t.is(delivery.attempts[0]?.error_class, 'target_denied');
  t.is(delivery.attempts[0]?.status_code, null);
  t.regex(delivery.attempts[0]?.error ?? '', /127\.0\.0\.1, a loopback address/);
  t.is(receiver.received.length, 0, 'nothing reached the loopback receiver');
});

test('webhook target: DNS rebinding — one denied address among several fails the attempt', async (t) => {
  const delivery = await dispatchOnce(t, 'http://mixed.test:9/hook', async () => [
    { address: '192.0.2.1', family: 4 },
    { address: '::ffff:10.1.2.3', family: 6 },
  ]);
  t.is(delivery.attempts[0]?.error_class, 'target_denied');
  t.regex(delivery.attempts[0]?.error ?? '', /10\.0\.0\.0\/8/);
});

test('webhook target: DNS rebinding — the same name listed in allow_targets is delivered (the check is what stopped it)', async (t) => {
  const receiver = await startHookReceiver();
  t.teardown(() => receiver.close());
  const url = `http://rebind.test:${receiver.port}/hook`;
  const delivery = await dispatchOnce(t, url, async () => [{ address: '127.0.0.1', family: 4 }], [
    'rebind.test',
  ]);
  t.is(delivery.attempts[0]?.error_class, null);
  t.is(delivery.status, 'delivered');
  t.is(receiver.received.length, 1);
});
