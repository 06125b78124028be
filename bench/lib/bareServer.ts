// The baseline for SSE fan-out: a bare node:http server with a hand-written loop. The same events as the
// operator's (a cycle job decided by the real decider, canonical JSON, the same frame layout and headers),
// but no store, no koa, no feeds: each event is serialised once and written to every response.
// Run: node --import tsx bench/lib/bareServer.ts [--heartbeat-ms 5000]
import { randomUUID } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import type { NewJobEvent } from '../../src/domain/events.ts';
import { toCanonicalJson } from '../../src/domain/events.ts';
import { CycleJob } from './cycleJob.ts';
import { emit, measuredRss, serveRpc } from './rpc.ts';
import { sleep } from './stats.ts';

const { values } = parseArgs({ options: { 'heartbeat-ms': { type: 'string', default: '5000' } } });
const clients = new Set<ServerResponse>();
let position = 0;
const job = new CycleJob('bare', { maxEventsPerJob: 100_000_000 });
const nowNs = () => process.hrtime.bigint().toString();

/** The frames of the next command's events, built once and shared by every client. */
function nextFrames(payload: Record<string, unknown>): { frames: Buffer[]; events: NewJobEvent[] } {
  const events = job.decideNext(payload);
  const ids = events.map(() => randomUUID());
  const frames = events.map((event, i) => {
    const json = toCanonicalJson({
      ...event,
      id: ids[i] as string,
      job_id: job.jobId,
      seq: job.state.seq + 1 + i,
      position: String(position++),
    });
    return Buffer.from(`id: ${job.state.seq + 1 + i}\nevent: ${event.type}\ndata: ${json}\n\n`);
  });
  job.applied(events, ids);
  return { frames, events };
}

const server = createServer((req, res) => {
  if (!req.url?.startsWith('/sse')) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.socket?.setNoDelay(true);
  res.write(`retry: 2000\n\nevent: connected\ndata: ${JSON.stringify({ job_id: job.jobId })}\n\n`);
  clients.add(res);
  res.once('close', () => clients.delete(res));
});
server.keepAliveTimeout = 5000;

const heartbeat = setInterval(() => {
  const frame = Buffer.from(`event: heartbeat\ndata: {"ts":"${new Date().toISOString()}"}\n\n`);
  for (const res of clients) res.write(frame);
}, Number(values['heartbeat-ms']));
heartbeat.unref();

// Warm the decider so the first frames cost what later ones do.
for (let i = 0; i < 3; i++) nextFrames({});

serveRpc(
  {
    rss: (p) => measuredRss(p.gc !== false),
    /** CPU time of this process so far (user + system, ms): a figure the shared machine's load hardly moves. */
    cpuMs: () => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1000;
    },
    clients: () => clients.size,
    heapSnapshot: (p) => writeHeapSnapshot(String(p.path)),
    /** `eventsPerSecond` events a second for `durationMs`, written to every client as they are made. */
    drive: async (p) => {
      const msPerEvent = 1000 / Number(p.eventsPerSecond);
      const durationMs = Number(p.durationMs);
      let events = 0;
      const started = performance.now();
      for (let due = started; due - started < durationMs; ) {
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        const { frames } = nextFrames({ t_ns: nowNs() });
        // One write per client for the frames of one command, as the operator writes those of one commit.
        const chunk = frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames);
        for (const res of clients) res.write(chunk);
        events += frames.length;
        due += frames.length * msPerEvent;
      }
      return { events, eventsPerSecond: events / ((performance.now() - started) / 1000) };
    },
    /**
     * Replays recorded frames (`events`: `at` ms after the start, `id`, the frame's text) to every client at
     * the same offsets, one loop per frame; returns when each was written (CLOCK_MONOTONIC ns, by id).
     */
    replay: async (p) => {
      const events = (p.events ?? []) as { at: number; id: string; frame: string }[];
      const frames = events.map((e) => Buffer.from(e.frame));
      const writtenNs: Record<string, string> = {};
      const started = performance.now();
      // Frames recorded at the same offset (one commit) go out as one write per client, as the operator's do.
      for (let i = 0; i < events.length; ) {
        const at = (events[i] as { at: number }).at;
        let end = i + 1;
        while (end < events.length && (events[end] as { at: number }).at === at) end++;
        const wait = started + at - performance.now();
        if (wait > 0) await sleep(wait);
        const ns = nowNs();
        for (let k = i; k < end; k++) writtenNs[(events[k] as { id: string }).id] = ns;
        const chunk = end - i === 1 ? (frames[i] as Buffer) : Buffer.concat(frames.slice(i, end));
        for (const res of clients) res.write(chunk);
        i = end;
      }
      return { events: events.length, seconds: (performance.now() - started) / 1000, writtenNs };
    },
    /**
     * `events` events to every client as fast as each socket takes them: one callback pump per client that
     * writes until `write()` returns false and resumes on `drain`.
     */
    burst: (p) => {
      const total = Number(p.events);
      const startNs = nowNs();
      const frames: Buffer[] = [];
      while (frames.length < total) frames.push(...nextFrames({ t_ns: startNs }).frames);
      frames.length = total;
      // Frames joined into chunks of about 16 KiB, the size of the operator's catch-up writes.
      const chunks: Buffer[] = [];
      for (let i = 0; i < total; ) {
        let end = i;
        let bytes = 0;
        while (end < total && bytes < 16_384) bytes += (frames[end++] as Buffer).length;
        chunks.push(Buffer.concat(frames.slice(i, end)));
        i = end;
      }
      for (const res of clients) {
        let i = 0;
        const pump = (): void => {
          while (i < chunks.length) {
            if (!res.write(chunks[i++] as Buffer)) {
              res.once('drain', pump);
              return;
            }
          }
        };
        pump();
      }
      return { startNs, events: total };
    },
  },
  () => {
    for (const res of clients) res.destroy();
    server.close();
  },
);

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  emit('ready', {
    url: `http://127.0.0.1:${port}`,
    pid: process.pid,
    nofile: process.env.BENCH_NOFILE ?? null,
  });
});
