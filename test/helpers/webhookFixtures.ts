import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { Config } from '../../src/infra/config/configSchema.ts';
import type { WebhookEndpoint } from '../../src/webhooks/webhookRecords.ts';
import { HEALTHY_ENDPOINT } from '../../src/webhooks/webhookRecords.ts';

/** A registered API endpoint with no filters and no failures; `over` changes any field. */
export const testEndpoint = (over: Partial<WebhookEndpoint> = {}): WebhookEndpoint => ({
  id: 'wh_1',
  url: 'http://192.0.2.10/hook',
  description: null,
  event_types: [],
  jobs: [],
  pipelines: [],
  source: 'api',
  secret: 'whsec_x',
  created_at: '2026-01-01T00:00:00.000Z',
  created_position: null,
  ...HEALTHY_ENDPOINT,
  ...over,
});

/** What a `WebhookKeyring` reads of the config of an LMDB install without `webhooks.secret_key`. */
export const keyringConfig = (dataDir: string) =>
  ({ webhooks: {}, store: { kind: 'lmdb' }, storage: { data_dir: dataDir } }) as unknown as Config;

/** Two empty data dirs (say, one and its restored copy), removed after the test. */
export async function twoDataDirs(t: ExecutionContext): Promise<[string, string]> {
  const root = await mkdtemp(join(tmpdir(), 'operator-keyring-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'a'));
  await mkdir(join(root, 'b'));
  return [join(root, 'a'), join(root, 'b')];
}

/** A plain HTTP receiver on 127.0.0.1 that records each request and answers with `answer`. */
export interface HookReceiver {
  port: number;
  url: string;
  received: { path: string; body: string }[];
  answer: { status: number; body?: string };
  close(): Promise<void>;
}

export async function startHookReceiver(): Promise<HookReceiver> {
  const received: HookReceiver['received'] = [];
  const receiver = { answer: { status: 204 } } as HookReceiver;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(receiver.answer.status).end(receiver.answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(receiver, {
    port,
    url: `http://127.0.0.1:${port}/hook`,
    received,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

/** Polls `check` every 25 ms until it returns something truthy (or throws after `timeoutMs`). */
export async function eventually<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
