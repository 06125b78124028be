import test from 'ava';
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

test('live streams per token: a viewer opens N+1 streams (event, global and log-follow together): the last is 429 with Retry-After; closing one frees its slot', async (t) => {
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
});

test('live streams in all: the server refuses the stream past streaming.max_streams (429, scope server), whatever the token', async (t) => {
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
});
