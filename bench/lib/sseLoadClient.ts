// A purpose-built SSE load client: many raw HTTP connections from one process, each parsing its frames.
// Latency is the event's `t_ns` payload (the sender's CLOCK_MONOTONIC before the append, shared by every
// process of the machine) to the arrival of the chunk that completed the frame, in the same clock.
// Run as a child of a benchmark: node --import tsx bench/lib/sseLoadClient.ts
import { type ClientRequest, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { emit, serveRpc } from './rpc.ts';
import { Samples, summarize } from './stats.ts';

interface Connection {
  req: ClientRequest;
  rest: string;
  connected: boolean;
  deliveries: number;
  heartbeats: number;
  ended: boolean;
  closed: boolean;
  error: string | null;
  reachedNs: bigint;
  reached: boolean;
}

const connections: Connection[] = [];
const stuck: Socket[] = [];
const latencies = new Samples();
/** The seq (`id:`) of each latency sample, to subtract the server's commit time per event. */
const latencySeqs = new Samples();
let measuring = false;
/**
 * When recording (the global stream): for every frame with an `id:`, the id, its arrival (CLOCK_MONOTONIC,
 * ns) and the delay since the event's `ts` (wall clock, ms resolution).
 */
let recording = false;
const arrivalIds = new Samples();
const arrivalNs = new Samples();
const sinceTsMs = new Samples();
let target: { perClient: number; reached: number; resolve: () => void } | null = null;

function onFrame(conn: Connection, frame: string, now: bigint): void {
  // Control frames are named (`end` also carries an id); heartbeats are unnamed data frames without an id.
  if (frame.includes('event: end')) conn.ended = true;
  else if (frame.includes('event: connected')) conn.connected = true;
  else if (frame.includes('"type":"heartbeat"')) conn.heartbeats++;
  else if (frame.startsWith('id: ')) {
    conn.deliveries++;
    if (recording) record(frame, now);
    if (measuring) {
      const at = frame.indexOf('"t_ns":"');
      if (at >= 0) {
        const sent = BigInt(frame.slice(at + 8, frame.indexOf('"', at + 8)));
        latencies.push(Number(now - sent) / 1e6);
        latencySeqs.push(Number.parseInt(frame.slice(4, frame.indexOf('\n')), 10));
      }
    }
  }
}

function record(frame: string, now: bigint): void {
  arrivalIds.push(Number(frame.slice(4, frame.indexOf('\n'))));
  arrivalNs.push(Number(now));
  const at = frame.indexOf('"ts":"');
  if (at >= 0) sinceTsMs.push(Date.now() - Date.parse(frame.slice(at + 6, frame.indexOf('"', at + 6))));
}

/** Arrival minus the server's time for each recorded id (`fromNs`: id → CLOCK_MONOTONIC ns), in ms. */
function sinceServer(fromNs: Record<string, string>) {
  const ids = arrivalIds.values();
  const arrived = arrivalNs.values();
  const out = new Samples();
  let unmatched = 0;
  for (let i = 0; i < ids.length; i++) {
    const from = fromNs[String(ids[i])];
    if (from === undefined) unmatched++;
    else out.push(((arrived[i] as number) - Number(from)) / 1e6);
  }
  return { latencyMs: summarize(out.values()), unmatched };
}

/** Latencies from the durable commit (the server's append resolving) instead of from before the append. */
function afterCommit(commitMs: Record<string, number>) {
  const values = latencies.values();
  const seqs = latencySeqs.values();
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = (values[i] as number) - (commitMs[String(seqs[i])] ?? 0);
  return summarize(out);
}

function onChunk(conn: Connection, chunk: string): void {
  const now = process.hrtime.bigint();
  const text = conn.rest + chunk;
  let start = 0;
  for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n', start)) {
    onFrame(conn, text.slice(start, end), now);
    start = end + 2;
  }
  conn.rest = text.slice(start);
  if (target && !conn.reached && conn.deliveries >= target.perClient) {
    conn.reached = true;
    conn.reachedNs = now;
    if (++target.reached === connections.length) target.resolve();
  }
}

function openOne(url: URL, headers: Record<string, string>, localAddress: string): Promise<Connection> {
  return new Promise((resolve) => {
    const conn: Connection = {
      req: request(url, { agent: false, headers: { accept: 'text/event-stream', ...headers }, localAddress }),
      rest: '',
      connected: false,
      deliveries: 0,
      heartbeats: 0,
      ended: false,
      closed: false,
      error: null,
      reachedNs: 0n,
      reached: false,
    };
    const settle = () => resolve(conn);
    conn.req.on('response', (res) => {
      if (res.statusCode !== 200) {
        conn.error = `HTTP ${res.statusCode}`;
        res.resume();
        settle();
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const was = conn.connected;
        onChunk(conn, chunk);
        if (!was && conn.connected) settle();
      });
      res.on('close', () => {
        conn.closed = true;
        settle();
      });
    });
    conn.req.on('error', (e) => {
      conn.error = e.message;
      conn.closed = true;
      settle();
    });
    conn.req.end();
  });
}

serveRpc(
  {
    /**
     * Opens `count` connections, `concurrency` at a time, from 127.0.0.1..127.0.0.<sources> (the whole
     * 127/8 is local: spreading source addresses keeps ephemeral ports and TIME_WAIT far from their limits).
     */
    open: async (p) => {
      const url = new URL(String(p.url));
      const headers = (p.headers ?? {}) as Record<string, string>;
      const count = Number(p.count);
      const concurrency = Number(p.concurrency ?? 100);
      const sources = Number(p.sources ?? 8);
      const started = performance.now();
      let next = 0;
      const opened: Connection[] = [];
      await Promise.all(
        Array.from({ length: Math.min(concurrency, count) }, async () => {
          while (next < count) {
            const i = next++;
            opened.push(await openOne(url, headers, `127.0.0.${1 + (i % sources)}`));
          }
        }),
      );
      connections.push(...opened);
      const failed = opened.filter((c) => !c.connected);
      return {
        connected: opened.length - failed.length,
        failed: failed.length,
        firstError: failed[0]?.error ?? null,
        ms: performance.now() - started,
      };
    },
    /** Opens `count` raw sockets that send the request and never read a byte. */
    openStuck: async (p) => {
      const url = new URL(String(p.url));
      const headers = Object.entries((p.headers ?? {}) as Record<string, string>)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      const ports: number[] = [];
      for (let i = 0; i < Number(p.count); i++) {
        const socket = connect(Number(url.port), url.hostname);
        socket.on('error', () => {});
        socket.pause();
        await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
        socket.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n${headers}\r\n`);
        ports.push(socket.localPort as number);
        stuck.push(socket);
      }
      return { ports };
    },
    /** Zeroes the counters; latencies are recorded from now on when `measure`. */
    reset: (p) => {
      for (const c of connections) {
        c.deliveries = 0;
        c.heartbeats = 0;
        c.reached = false;
        c.reachedNs = 0n;
      }
      latencies.clear();
      latencySeqs.clear();
      arrivalIds.clear();
      arrivalNs.clear();
      sinceTsMs.clear();
      measuring = Boolean(p.measure);
      recording = Boolean(p.record);
      return null;
    },
    stats: (p) => {
      const live = connections.filter((c) => !c.closed);
      const deliveries = connections.map((c) => c.deliveries);
      const heartbeats = live.map((c) => c.heartbeats);
      return {
        connections: connections.length,
        open: live.length,
        ended: connections.filter((c) => c.ended).length,
        errors: connections.filter((c) => c.error !== null).length,
        deliveries: deliveries.reduce((a, b) => a + b, 0),
        minDeliveries: Math.min(...deliveries),
        maxDeliveries: Math.max(...deliveries),
        minHeartbeats: heartbeats.length ? Math.min(...heartbeats) : 0,
        maxHeartbeats: heartbeats.length ? Math.max(...heartbeats) : 0,
        latencyMs: p.latency === false ? null : summarize(latencies.values()),
        afterCommitMs: p.commitMs ? afterCommit(p.commitMs as Record<string, number>) : null,
      };
    },
    /**
     * The recorded deliveries (`reset` with `record`): arrival minus `fromNs[id]` (the server's commit or
     * write time of each id), arrival minus the event's `ts`, and how many events each client got.
     */
    recorded: (p) => {
      const deliveries = connections.map((c) => c.deliveries);
      return {
        ...sinceServer((p.fromNs ?? {}) as Record<string, string>),
        sinceTsMs: summarize(sinceTsMs.values()),
        connections: connections.length,
        open: connections.filter((c) => !c.closed).length,
        minDeliveries: Math.min(...deliveries),
        maxDeliveries: Math.max(...deliveries),
      };
    },
    /** Resolves once every connection has received `perClient` events (since the last reset). */
    waitDeliveries: async (p) => {
      const perClient = Number(p.perClient);
      const timeoutMs = Number(p.timeoutMs ?? 60_000);
      let timer: NodeJS.Timeout | undefined;
      const reachedAll = await new Promise<boolean>((resolve) => {
        target = { perClient, reached: 0, resolve: () => resolve(true) };
        for (const c of connections) {
          if (c.deliveries >= perClient && !c.reached) {
            c.reached = true;
            c.reachedNs = process.hrtime.bigint();
            target.reached++;
          }
        }
        if (target.reached === connections.length) resolve(true);
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      clearTimeout(timer);
      target = null;
      let last = 0n;
      for (const c of connections) if (c.reachedNs > last) last = c.reachedNs;
      return {
        reachedAll,
        lastNs: last.toString(),
        deliveries: connections.reduce((a, c) => a + c.deliveries, 0),
      };
    },
    closeAll: () => {
      for (const c of connections) c.req.destroy();
      for (const s of stuck) s.destroy();
      const n = connections.length + stuck.length;
      connections.length = 0;
      stuck.length = 0;
      return { closed: n };
    },
  },
  () => {
    for (const c of connections) c.req.destroy();
    for (const s of stuck) s.destroy();
  },
);

emit('ready', { pid: process.pid, nofile: process.env.BENCH_NOFILE ?? null });
