import { connect } from 'node:net';
import test from 'ava';
import { EventSource } from 'eventsource';
import { waitFor } from '../helpers/runnerHarness.ts';
import { eventsOnly, openRawSse } from '../helpers/sseClient.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { json, startTestServer, TOKENS } from '../helpers/testServer.ts';

// The tests share one server and read its hub size, its cut-off counter and its all-jobs stream: serial, so
// that `npx ava` on this file passes as the suite's `--serial` run does.
let server: TestServer;
test.before(async () => {
  server = await startTestServer({
    // 200 clients on one token below; big payloads fill a stuck client's socket.
    server: { port: 0, host: '127.0.0.1', log_level: 'info', max_payload_bytes: 1_048_576 },
    streaming: {
      heartbeat_seconds: 1,
      max_buffered_bytes: 65_536,
      stuck_timeout_seconds: 1,
      max_streams_per_token: 1000,
    },
  });
});
test.after.always(async () => {
  await server?.stop();
});

const tokenQuery = `access_token=${TOKENS.viewer}`;

async function newJob(): Promise<string> {
  const res = await server.api('/jobs', { method: 'POST', json: { pipeline: 'external' } });
  return (await json<{ job: { job_id: string } }>(res)).job.job_id;
}

const post = (path: string, body: unknown = {}) => server.api(path, { method: 'POST', json: body });

/** Drives a job through every stage to job_completed (9 events with the gate). */
async function runJob(id: string): Promise<void> {
  await post(`/jobs/${id}/start`);
  for (const step of ['ingest/start', 'ingest/complete', 'review/start', 'review/complete'])
    await post(`/jobs/${id}/stages/${step}`);
  await post(`/jobs/${id}/gates/review/approve`, { comment: 'ok' });
  for (const step of ['publish/start', 'publish/complete']) await post(`/jobs/${id}/stages/${step}`);
}

test.serial(
  'raw bytes: headers, retry, connected, then every event unnamed with id = seq; polling returns the same JSON',
  async (t) => {
    const id = await newJob();
    const sse = await openRawSse(`${server.url}/api/v1/jobs/${id}/events/stream?after=-1&${tokenQuery}`);
    t.is(sse.status, 200);
    t.regex(sse.headers.get('content-type') ?? '', /^text\/event-stream/);
    t.is(sse.headers.get('cache-control'), 'no-store, no-transform');
    t.is(sse.headers.get('x-accel-buffering'), 'no');
    t.is(sse.headers.get('content-encoding'), null);
    await runJob(id);
    await sse.until((m) => m.some((x) => x.event === 'end'));
    await sse.closed;
    t.is(sse.retry, server.config.streaming.retry_ms);
    t.is(sse.messages[0]?.event, 'connected');
    const streamed = eventsOnly(sse.messages);
    t.deepEqual(
      streamed.map((m) => Number(m.id)),
      streamed.map((_m, i) => i),
    );
    // Unnamed frames: the type is inside the JSON, so `onmessage` gets every event.
    t.deepEqual(
      streamed.map((m) => m.event),
      streamed.map(() => undefined),
    );
    t.is(JSON.parse(streamed.at(-1)?.data ?? '{}').type, 'job_completed');
    const polled = await (await server.api(`/jobs/${id}/events?after=-1&limit=1000`)).text();
    t.is(
      polled,
      `{"job_id":"${id}","events":[${streamed.map((m) => m.data).join(',')}],"next_after":${streamed.length - 1},"head":${streamed.length - 1},"limit":1000}`,
    );
  },
);

test.serial(
  'with frames=named the eventsource client gets connected, the events in order by name, and a heartbeat within heartbeat_seconds + 1',
  async (t) => {
    const id = await newJob();
    const es = new EventSource(
      `${server.url}/api/v1/jobs/${id}/events/stream?after=-1&frames=named&${tokenQuery}`,
    );
    const seen: { type: string; id: string }[] = [];
    const connected = new Promise<void>((resolve) => es.addEventListener('connected', () => resolve()));
    for (const type of ['job_created', 'job_started', 'stage_started']) {
      es.addEventListener(type, (e) => seen.push({ type, id: e.lastEventId }));
    }
    await connected;
    const heartbeatAt = Date.now();
    const heartbeat = new Promise<number>((resolve) =>
      es.addEventListener('heartbeat', () => resolve(Date.now())),
    );
    await post(`/jobs/${id}/start`);
    await post(`/jobs/${id}/stages/ingest/start`);
    const got = await heartbeat;
    t.true(got - heartbeatAt <= (server.config.streaming.heartbeat_seconds + 1) * 1000);
    for (let i = 0; i < 50 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 50));
    es.close();
    t.deepEqual(seen, [
      { type: 'job_created', id: '0' },
      { type: 'job_started', id: '1' },
      { type: 'stage_started', id: '2' },
    ]);
  },
);

test.serial(
  'after a server-side cut, the client resumes with Last-Event-ID and gets exactly the missing events',
  async (t) => {
    const id = await newJob();
    const es = new EventSource(`${server.url}/api/v1/jobs/${id}/events/stream?after=-1&${tokenQuery}`);
    const ids: number[] = [];
    let opens = 0;
    es.addEventListener('open', () => opens++);
    es.onmessage = (e: MessageEvent) => {
      if (JSON.parse(e.data).type !== 'heartbeat') ids.push(Number(e.lastEventId));
    };
    const untilReceived = async (n: number) => {
      for (let i = 0; i < 200 && ids.length < n; i++) await new Promise((r) => setTimeout(r, 25));
    };
    await untilReceived(1);
    await post(`/jobs/${id}/start`);
    await untilReceived(2);
    server.deps.hub.disconnectAll('test cut');
    // Written while the client is away.
    await post(`/jobs/${id}/stages/ingest/start`);
    await post(`/jobs/${id}/stages/ingest/complete`);
    await post(`/jobs/${id}/stages/review/start`);
    await post(`/jobs/${id}/stages/review/complete`);
    await untilReceived(7);
    es.close();
    t.true(opens >= 2, 'the client reconnected');
    t.deepEqual(ids, [0, 1, 2, 3, 4, 5, 6]);
  },
);

test.serial('200 concurrent clients on one job all receive every event', async (t) => {
  const id = await newJob();
  const clients = await Promise.all(
    Array.from({ length: 200 }, () =>
      openRawSse(`${server.url}/api/v1/jobs/${id}/events/stream?after=-1&${tokenQuery}`),
    ),
  );
  await runJob(id);
  await Promise.all(clients.map((c) => c.until((m) => m.some((x) => x.event === 'end'), 20_000)));
  const expected = eventsOnly(clients[0]!.messages).map((m) => m.data);
  t.is(expected.length, 12);
  t.is(JSON.parse(eventsOnly(clients[0]!.messages).at(-1)?.data ?? '{}').type, 'job_completed');
  for (const c of clients)
    t.deepEqual(
      eventsOnly(c.messages).map((m) => m.data),
      expected,
    );
});

test.serial('the all-jobs stream uses positions as ids and filters by type and job', async (t) => {
  const before = await json<{ events: { position: string }[] }>(await server.api('/events?limit=1000'));
  const start = before.events.at(-1)?.position ?? '-1';
  const sse = await openRawSse(
    `${server.url}/api/v1/events/stream?after=${start}&type=job_created,job_started&${tokenQuery}`,
  );
  const a = await newJob();
  await post(`/jobs/${a}/start`);
  await post(`/jobs/${a}/stages/ingest/start`);
  await sse.until((m) => eventsOnly(m).length >= 2);
  sse.abort();
  const got = eventsOnly(sse.messages).map(
    (m) => JSON.parse(m.data) as { type: string; position: string; job_id: string },
  );
  t.deepEqual(
    got.map((e) => e.type),
    ['job_created', 'job_started'],
  );
  t.deepEqual(
    eventsOnly(sse.messages).map((m) => m.id),
    got.map((e) => e.position),
  );
  t.is((await server.api('/events/stream?type=bogus')).status, 400);
});

test.serial(
  'a client that stops reading is cut off while a healthy one on the same job keeps receiving',
  async (t) => {
    const created = await server.api('/jobs', { method: 'POST', json: { pipeline: 'looping' } });
    const id = (await json<{ job: { job_id: string } }>(created)).job.job_id;
    await post(`/jobs/${id}/start`);
    const healthy = await openRawSse(`${server.url}/api/v1/jobs/${id}/events/stream?${tokenQuery}`);
    const url = new URL(server.url);
    const stuck = connect(Number(url.port), url.hostname);
    stuck.pause(); // never reads a byte
    stuck.on('error', () => {});
    stuck.write(`GET /api/v1/jobs/${id}/events/stream?${tokenQuery} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 200));
    t.is(server.deps.hub.size, 2);
    const cutCount = async () => (await server.deps.metrics.sseCutOff.get()).values[0]?.value ?? 0;
    const cutBefore = await cutCount();
    const blob = 'x'.repeat(200_000);
    // Big events fill the stuck client's socket buffers; stage retries keep the job going. (A paused socket
    // never sees the server's FIN, so the cut is observed on the server side.)
    let sent = 0;
    for (let round = 0; round < 45 && (await cutCount()) === cutBefore; round++) {
      const start = await post(`/jobs/${id}/stages/work/start`, { payload: { blob } });
      t.is(start.status, 200);
      await post(`/jobs/${id}/stages/work/fail`, { reason: 'again', payload: { blob } });
      sent += 2;
    }
    for (let i = 0; i < 60 && (await cutCount()) === cutBefore; i++)
      await new Promise((r) => setTimeout(r, 100));
    t.true((await cutCount()) > cutBefore, 'the stuck client was cut off');
    t.is(server.deps.hub.size, 1, 'only the healthy client is left');
    await healthy.until((m) => eventsOnly(m).length >= sent, 20_000);
    t.true(eventsOnly(healthy.messages).length >= sent);
    healthy.abort();
    stuck.destroy();
  },
);

/** Sends `GET <path>` over a raw socket in the given HTTP version; resolves with every byte once the server closes. */
function rawGet(path: string, version: '1.0' | '1.1', onOpen: () => Promise<void>): Promise<string> {
  const url = new URL(server.url);
  const socket = connect(Number(url.port), url.hostname);
  let text = '';
  let opened = false;
  return new Promise((resolve, reject) => {
    socket.setEncoding('utf8');
    socket.on('data', (data: string) => {
      text += data;
      if (!opened && text.includes('event: connected')) {
        opened = true;
        onOpen().catch(reject);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
    socket.write(`GET ${path} HTTP/${version}\r\nHost: x\r\nConnection: close\r\n\r\n`);
  });
}

test.serial(
  'live frames on the wire: bare bytes to an HTTP/1.0 client, well-formed chunks to an HTTP/1.1 one',
  async (t) => {
    for (const version of ['1.0', '1.1'] as const) {
      const id = await newJob();
      const path = `/api/v1/jobs/${id}/events/stream?after=-1&${tokenQuery}`;
      const raw = await rawGet(path, version, () => runJob(id));
      const split = raw.indexOf('\r\n\r\n');
      const head = raw.slice(0, split);
      let body = raw.slice(split + 4);
      t.regex(head, /^HTTP\/1\.1 200 /);
      if (version === '1.1') {
        t.regex(head, /transfer-encoding: chunked/i);
        // Every chunk is `<hex size>\r\n<size bytes>\r\n`, and a zero-size chunk ends the body.
        let decoded = '';
        for (;;) {
          const eol = body.indexOf('\r\n');
          t.true(eol > 0, `a chunk size line: ${JSON.stringify(body.slice(0, 40))}`);
          const size = Number.parseInt(body.slice(0, eol), 16);
          t.false(Number.isNaN(size));
          const bytes = Buffer.from(body.slice(eol + 2), 'utf8');
          decoded += bytes.subarray(0, size).toString('utf8');
          body = bytes.subarray(size).toString('utf8');
          t.is(body.slice(0, 2), '\r\n', 'the chunk ends with CRLF');
          body = body.slice(2);
          if (size === 0) break;
        }
        t.is(body, '');
        body = decoded;
      } else t.notRegex(head, /transfer-encoding/i);
      t.regex(body, /^retry: \d+\n\n/);
      t.notRegex(body, /^[0-9a-f]+\r$/m, 'no chunk framing in the event stream');
      // The job's events are the unnamed frames with an id (heartbeats have none; control frames are named).
      const ids = body
        .split('\n\n')
        .filter((frame) => /^id: /m.test(frame) && !/^event: /m.test(frame))
        .map((frame) => Number(/^id: (\d+)$/m.exec(frame)?.[1]));
      t.deepEqual(
        ids,
        Array.from({ length: ids.length }, (_, i) => i),
        `${version}: every event, in order`,
      );
      t.true(ids.length >= 10, `${version}: ${ids.length} events`);
      t.regex(body, /event: end\n/);
    }
  },
);

test.serial(
  'HEAD on the live streams: the head at once, no body, no slot held; the connection stays usable',
  async (t) => {
    const before = server.deps.hub.size;
    for (const path of ['/api/v1/events/stream', '/api/v1/jobs/{id}/events/stream']) {
      const id = await newJob();
      const url = new URL(server.url);
      const socket = connect(Number(url.port), url.hostname);
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (data: string) => {
        text += data;
      });
      socket.on('error', () => {});
      socket.write(`HEAD ${path.replace('{id}', id)}?${tokenQuery} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await waitFor('the head', () => text.includes('\r\n\r\n'), 2_000, 20);
      const head = text;
      t.regex(head, /^HTTP\/1\.1 200 /, path);
      t.regex(head, /content-type: text\/event-stream/i);
      t.is(server.deps.hub.size, before, `${path}: no stream is held for a HEAD`);
      await runJob(id);
      await new Promise((r) => setTimeout(r, 300));
      t.is(text, head, `${path}: nothing after the head while events go out live`);
      // The same connection answers its next request: nothing stray was written into it.
      socket.write(`GET /api/v1/healthz HTTP/1.1\r\nHost: x\r\n\r\n`);
      await waitFor(
        'the next answer',
        () => text.length > head.length && text.slice(head.length).includes('\r\n\r\n'),
        2_000,
        20,
      );
      t.regex(text.slice(head.length), /^HTTP\/1\.1 200 /, `${path}: the next request on the connection`);
      socket.destroy();
    }
  },
);

test.serial(
  'a job announced on the global stream is there at once: GET /jobs/{id} right after job_created is 200',
  async (t) => {
    const url = new URL(server.url);
    const socket = connect(Number(url.port), url.hostname);
    const asked = new Map<string, Promise<number>>();
    let text = '';
    socket.setEncoding('utf8');
    socket.on('error', () => {});
    socket.on('data', (data: string) => {
      text += data;
      for (const m of text.matchAll(/"job_id":"([^"]+)","seq":0,/g)) {
        const id = m[1] as string;
        // Asked the moment the event arrives, ahead of the read model's projection of it.
        if (!asked.has(id))
          asked.set(
            id,
            server.api(`/jobs/${id}`, { as: 'viewer' }).then((r) => r.status),
          );
      }
    });
    socket.write(`GET /api/v1/events/stream?${tokenQuery} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await waitFor('the stream to open', () => text.includes('event: connected'), 5_000, 20);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await newJob());
    await waitFor('every job_created on the stream', () => ids.every((id) => asked.has(id)), 2_000, 20);
    const statuses = await Promise.all(ids.map((id) => asked.get(id) ?? Promise.resolve(-1)));
    t.deepEqual(
      statuses,
      ids.map(() => 200),
    );
    socket.destroy();
  },
);
