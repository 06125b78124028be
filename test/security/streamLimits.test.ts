import { createServer, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import test from 'ava';
import { DEFAULT_WIRE_STYLE } from '../../src/api/sse/wireFrames.ts';
import { createJob, waitFor } from '../helpers/runnerHarness.ts';
import type { RawSse } from '../helpers/sseClient.ts';
import { openRawSse } from '../helpers/sseClient.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { json, startTestServer, TOKENS } from '../helpers/testServer.ts';

/**
 * Door: live streams per token (`streaming.max_streams_per_token`) and in all (`streaming.max_streams`),
 * event streams and log follows counted together; over a limit 429 with Retry-After and the error shape; a
 * closed stream frees its slot.
 */

const PER_TOKEN = 3;
const TOTAL = 5;
let server: TestServer;

test.before(async () => {
  server = await startTestServer(
    {
      streaming: { heartbeat_seconds: 1, max_streams_per_token: PER_TOKEN, max_streams: TOTAL },
      pipeline: { default: 'slow' },
      pipelines: {
        slow: { stages: [{ name: 'talk', run: 'echo hello; sleep 30' }] },
        external: { stages: [{ name: 'ingest' }] },
      },
    },
    { runner: true },
  );
});
test.after.always(() => server?.stop());

const open = (path: string, token: string): Promise<RawSse> =>
  openRawSse(`${server.url}/api/v1${path}`, { authorization: `Bearer ${token}` });

async function expect429(t: import('ava').ExecutionContext, sse: RawSse, scope: 'token' | 'server') {
  t.is(sse.status, 429);
  t.regex(sse.headers.get('retry-after') ?? '', /^\d+$/, 'Retry-After in seconds');
  await sse.closed;
  const res = await fetch(sse.url, { headers: sse.requestHeaders });
  const body = await json<{ error: { code: string; message: string; details: { scope: string } } }>(res);
  t.is(body.error.code, 'too_many_streams');
  t.is(body.error.details.scope, scope);
}

// Serial: both tests count the server's streams (hub.size), and one's streams would fill the other's limit.
test.serial(
  'live streams per token: a viewer opens N+1 streams (event, global and log-follow together): the last is 429 with Retry-After; closing one frees its slot',
  async (t) => {
    const jobId = await createJob(server, 'slow');
    await waitFor('the stage log', async () => (await server.api(`/jobs/${jobId}/stages/talk/log`)).ok);
    const streams = [
      await open(`/jobs/${jobId}/events/stream`, TOKENS.viewer),
      await open('/events/stream', TOKENS.viewer),
      await open(`/jobs/${jobId}/stages/talk/log?follow=1`, TOKENS.viewer),
    ];
    t.deepEqual(
      streams.map((s) => s.status),
      [200, 200, 200],
    );
    t.is(server.deps.hub.countOf('victor'), PER_TOKEN);
    for (const path of [
      `/jobs/${jobId}/events/stream`,
      '/events/stream',
      `/jobs/${jobId}/stages/talk/log?follow=1`,
    ])
      await expect429(t, await open(path, TOKENS.viewer), 'token');
    // Another token is not held back by this one's streams.
    const other = await open('/events/stream', TOKENS.operator);
    t.is(other.status, 200);
    // Closing one frees its slot (the server sees the close; the count drops).
    streams[2]?.abort();
    await waitFor(
      'the closed stream to free its slot',
      async () => server.deps.hub.countOf('victor') < PER_TOKEN,
    );
    const again = await open('/events/stream', TOKENS.viewer);
    t.is(again.status, 200);
    for (const s of [...streams, other, again]) s.abort();
    await waitFor('every stream to close', async () => server.deps.hub.size === 0);
  },
);

test.serial(
  'live streams in all: the server refuses the stream past streaming.max_streams (429, scope server), whatever the token',
  async (t) => {
    const held: RawSse[] = [];
    for (const token of [TOKENS.viewer, TOKENS.viewer, TOKENS.operator, TOKENS.operator, TOKENS.admin])
      held.push(await open('/events/stream', token));
    t.deepEqual(
      held.map((s) => s.status),
      Array(TOTAL).fill(200),
    );
    await expect429(t, await open('/events/stream', TOKENS.admin), 'server');
    held[0]?.abort();
    await waitFor('a slot to free', async () => server.deps.hub.size < TOTAL);
    const next = await open('/events/stream', TOKENS.admin);
    t.is(next.status, 200);
    for (const s of [...held, next]) s.abort();
    await waitFor('every stream to close', async () => server.deps.hub.size === 0);
  },
);

test.serial(
  'a client that leaves while its stream is being opened takes no slot: more of them than the per-token limit, then a stream still opens',
  async (t) => {
    const hub = server.deps.hub;
    const limits = { perOwner: PER_TOKEN, total: TOTAL, retryAfterSeconds: 1 };
    const opened: { closed: boolean; held: number }[] = [];
    // A front that opens the stream only after its client left, as a slow open (the head read from the
    // store) would see it: the response's 'close' has fired before the session exists.
    let requests = 0;
    const front = createServer((_req, res: ServerResponse) => {
      requests++;
      res.once('close', () => {
        const session = hub.open(res, {
          owner: 'leaver',
          heartbeat: { jobId: null, style: DEFAULT_WIRE_STYLE },
          limits,
        });
        session.open(1000, { after: '-1' });
        opened.push({ closed: session.closed, held: hub.countOf('leaver') });
      });
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    t.teardown(() => front.close());
    const port = (front.address() as import('node:net').AddressInfo).port;
    for (let i = 0; i < PER_TOKEN + 2; i++) {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor('the front to see the request', async () => requests === i + 1);
      socket.destroy();
      await waitFor(`open attempt ${i + 1}`, async () => opened.length === i + 1);
    }
    t.deepEqual(
      opened,
      Array.from({ length: PER_TOKEN + 2 }, () => ({ closed: true, held: 0 })),
      'every late session starts closed and holds no slot (no 429 past the limit)',
    );
    t.is(hub.countOf('leaver'), 0);
    const viewer = await open('/events/stream', TOKENS.viewer);
    t.is(viewer.status, 200, 'the server still has room');
    viewer.abort();
  },
);
