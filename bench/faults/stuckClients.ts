import { readFileSync } from 'node:fs';
import { AUTH, benchDir } from '../lib/benchConfig.ts';
import { type Started, startBenchServer, startLoadClient } from '../lib/children.ts';
import type { LatencySummary } from '../lib/stats.ts';
import { sleep } from '../lib/stats.ts';
import type { FaultOptions, FaultReport } from './faultReport.ts';
import { FaultRecorder } from './faultReport.ts';

const JOB = 'stuck';
const HEARTBEAT_SECONDS = 1;
const MAX_BUFFERED_BYTES = 256 * 1024;

interface SessionRecord {
  remotePort: number | undefined;
  openedAt: number;
  closedAt: number | null;
  reason: string | null;
  blockedMs: number | null;
}

interface Phase {
  events: number;
  seconds: number;
  peakRss: number;
  /** RSS after GC at the end of the first one-second step. */
  firstRss: number;
  latencyMs: LatencySummary;
  /** From the durable commit to delivery: the fan-out alone, without the disk's share. */
  afterCommitMs: LatencySummary;
  minDeliveries: number;
  open: number;
}

/**
 * Drives padded events at 100/s in one-second steps, sampling the server's RSS after a full GC (live memory,
 * not garbage awaiting collection) between steps, for
 * `minMs` and then until `until()` holds (at most `maxMs`).
 */
async function phase(
  server: Started,
  client: Started,
  padBytes: number,
  minMs: number,
  maxMs = minMs,
  until: () => Promise<boolean> = async () => true,
): Promise<Phase> {
  await client.child.request('reset', { measure: true });
  const commitMs: Record<string, number> = {};
  let peakRss = 0;
  let firstRss = 0;
  let events = 0;
  const started = performance.now();
  for (let elapsed = 0; elapsed < maxMs; elapsed = performance.now() - started) {
    if (elapsed >= minMs && (await until())) break;
    const step = await server.child.request<{ events: number; commitMs: Record<string, number> }>('drive', {
      jobId: JOB,
      eventsPerSecond: 100,
      durationMs: 1000,
      padBytes,
    });
    events += step.events;
    Object.assign(commitMs, step.commitMs);
    const { rss } = await server.child.request<{ rss: number }>('rss', { gc: true });
    firstRss ||= rss;
    peakRss = Math.max(peakRss, rss);
  }
  const seconds = (performance.now() - started) / 1000;
  await sleep(500);
  const stats = await client.child.request<{
    latencyMs: LatencySummary;
    afterCommitMs: LatencySummary;
    minDeliveries: number;
    open: number;
  }>('stats', { commitMs });
  return { events, seconds, peakRss, firstRss, ...stats };
}

/** Kernel memory held by TCP sockets machine-wide, from /proc/net/sockstat (pages); 0 where unavailable. */
function tcpMemBytes(): number {
  try {
    const pages = /^TCP:.* mem (\d+)/m.exec(readFileSync('/proc/net/sockstat', 'utf8'))?.[1];
    return Number(pages ?? 0) * 4096;
  } catch {
    return 0;
  }
}

interface Attempt {
  before: Phase;
  withStuck: Phase;
  after: Phase;
  /** Peak kernel memory of all TCP sockets during the run with stuck clients (/proc/net/sockstat), bytes. */
  tcpMemPeak: number;
  ports: number[];
  sessions: SessionRecord[];
  opens: number;
}

/** A run without stuck clients, one with them until every one is cut (+2 s), and one without again. */
async function attempt(
  server: Started,
  client: Started,
  url: string,
  stuck: number,
  padBytes: number,
  short: boolean,
): Promise<Attempt> {
  const quietMs = short ? 4000 : 6000;
  const before = await phase(server, client, padBytes, quietMs);
  const { ports } = await client.child.request<{ ports: number[] }>('openStuck', {
    url,
    headers: AUTH,
    count: stuck,
  });
  const opens = Date.now();
  const stuckPorts = new Set(ports);
  const allCut = async () => {
    const sessions = await server.child.request<SessionRecord[]>('sessions');
    const cut = sessions.filter(
      (s) => s.remotePort !== undefined && stuckPorts.has(s.remotePort) && s.closedAt !== null,
    );
    return cut.length === stuck;
  };
  let cutAt: number | null = null;
  let tcpMemPeak = 0;
  const sampler = setInterval(() => {
    tcpMemPeak = Math.max(tcpMemPeak, tcpMemBytes());
  }, 200);
  const withStuck = await phase(server, client, padBytes, short ? 3000 : 6000, 30_000, async () => {
    if (cutAt === null && (await allCut())) cutAt = Date.now();
    return cutAt !== null && Date.now() - cutAt >= 2000;
  });
  clearInterval(sampler);
  const sessions = await server.child.request<SessionRecord[]>('sessions');
  const after = await phase(server, client, padBytes, quietMs);
  return { before, withStuck, after, tcpMemPeak, ports, sessions, opens };
}

/**
 * Clients that never read a byte next to healthy ones on the same job, with large events flowing: the server's
 * RSS stays bounded, the stuck clients are cut off within `stuck_timeout_seconds` (plus one heartbeat tick)
 * of blocking, and the healthy clients' p99 stays within 2× of the same runs without stuck clients.
 */
export async function stuckClientsScenario(options: FaultOptions): Promise<FaultReport> {
  const healthy = options.short ? 10 : 50;
  const stuck = options.short ? 10 : 50;
  const stuckTimeout = options.short ? 1 : 2;
  const padBytes = options.short ? 48_000 : 24_000;
  const rec = new FaultRecorder('slow and stuck clients', options.log);
  const dir = await benchDir('faults-stuck', {
    heartbeatSeconds: HEARTBEAT_SECONDS,
    stuckTimeoutSeconds: stuckTimeout,
    maxBufferedBytes: MAX_BUFFERED_BYTES,
  });
  const client = await startLoadClient();
  try {
    const server = await startBenchServer(dir);
    try {
      await server.child.request('seed', { jobId: JOB, events: 5 });
      const url = `${server.url}/api/v1/jobs/${JOB}/events/stream`;
      const opened = await client.child.request<{ connected: number }>('open', {
        url,
        headers: AUTH,
        count: healthy,
      });
      const first = await attempt(server, client, url, stuck, padBytes, options.short);
      const { before, withStuck, after, ports, sessions, opens, tcpMemPeak } = first;
      rec.action(
        `${opened.connected} healthy clients on one job, events of ~${Math.round(padBytes / 1000)} KB at 100/s: ${before.events} events; then ${ports.length} clients that never read joined, ${withStuck.events} events in ${withStuck.seconds.toFixed(1)} s (until every stuck one was cut, +2 s); then ${after.events} events without them; kernel TCP memory peaked at ${(tcpMemPeak / 2 ** 20).toFixed(0)} MiB machine-wide while the stuck sockets filled (stuck_timeout_seconds ${stuckTimeout}, max_buffered_bytes ${MAX_BUFFERED_BYTES}, heartbeat ${HEARTBEAT_SECONDS} s)`,
      );
      const stuckPorts = new Set(ports);
      const stuckSessions = sessions.filter(
        (s) => s.remotePort !== undefined && stuckPorts.has(s.remotePort),
      );
      const healthySessions = sessions.filter(
        (s) => s.remotePort === undefined || !stuckPorts.has(s.remotePort),
      );
      const cut = stuckSessions.filter(
        (s) => s.closedAt !== null && s.reason?.startsWith('client stopped reading'),
      );
      const boundMs = (stuckTimeout + HEARTBEAT_SECONDS) * 1000 + 1000;
      const blocked = cut.map((s) => s.blockedMs ?? Number.POSITIVE_INFINITY);
      const sinceOpen = cut.map((s) => ((s.closedAt as number) - opens) / 1000);
      rec.check(
        'every stuck client was cut off',
        stuckSessions.length === stuck && cut.length === stuck,
        `${cut.length} of ${stuck} cut (${stuckSessions.length} seen by the server), ${cut.length ? `${Math.min(...sinceOpen)}..${Math.max(...sinceOpen)} s after connecting (filling the kernel's socket buffers first)` : ''}; reasons: ${[...new Set(stuckSessions.map((s) => s.reason))].join(', ')}`,
      );
      rec.check(
        'cut within the bound once blocked',
        blocked.length > 0 && blocked.every((ms) => ms <= boundMs),
        `blocked ${Math.min(...blocked)}..${Math.max(...blocked)} ms before the cut; bound stuck_timeout_seconds + one heartbeat tick + 1 s = ${boundMs} ms`,
      );
      rec.check(
        'healthy clients kept every event and their connection',
        healthySessions.every((s) => s.closedAt === null) &&
          withStuck.open === healthy &&
          withStuck.minDeliveries === withStuck.events,
        `${healthySessions.filter((s) => s.closedAt === null).length} of ${healthy} healthy sessions open; each got ≥ ${withStuck.minDeliveries} of ${withStuck.events} events`,
      );
      // Memory grows with the events themselves (the live tail keeps the last 10,000, and LMDB's mapped pages
      // count as RSS), with or without stuck clients; what the stuck clients may add is their buffer bound.
      const mib = (b: number) => (b / 2 ** 20).toFixed(0);
      const rssBound = after.firstRss + stuck * MAX_BUFFERED_BYTES + 16 * 2 ** 20;
      rec.check(
        'server RSS bounded',
        withStuck.peakRss <= rssBound,
        `RSS after GC, sampled every second: peak ${mib(withStuck.peakRss)} MiB in the run with stuck clients; ${mib(after.firstRss)} MiB one second after the last was cut; bound = that + ${stuck} × max_buffered_bytes + 16 MiB = ${mib(rssBound)} MiB (before the stuck clients: ${mib(before.firstRss)}..${mib(before.peakRss)} MiB, growing with the events held by the live tail and LMDB's mapped pages)`,
      );
      const p99 = (a: Attempt) => ({
        with: a.withStuck.afterCommitMs.p99,
        reference: (a.before.afterCommitMs.p99 + a.after.afterCommitMs.p99) / 2,
        text: `p99 ${a.withStuck.afterCommitMs.p99.toFixed(2)} ms with stuck clients vs ${((a.before.afterCommitMs.p99 + a.after.afterCommitMs.p99) / 2).toFixed(2)} ms without (mean of ${a.before.afterCommitMs.p99.toFixed(2)} before and ${a.after.afterCommitMs.p99.toFixed(2)} after)`,
      });
      const attempts = [p99(first)];
      // The short form runs inside `npm test` on a shared 2-core machine, where a p99 over a few seconds can
      // be one scheduling stall: there it measures once more (reported) before failing. The full harness
      // measures once.
      if (options.short && attempts[0] && attempts[0].with > 2 * attempts[0].reference)
        attempts.push(p99(await attempt(server, client, url, stuck, padBytes, options.short)));
      const last = attempts.at(-1) as ReturnType<typeof p99>;
      rec.check(
        'healthy p99 (commit → delivery) within 2× of runs without stuck clients',
        last.with <= 2 * last.reference,
        `${attempts.map((a, i) => `attempt ${i + 1}: ${a.text}`).join('; ')}. Measured from the durable commit: the append's own time is the disk's, not the clients' (append → delivery p99 ${withStuck.latencyMs.p99.toFixed(2)} vs ${before.latencyMs.p99.toFixed(2)} ms in attempt 1)`,
      );
      rec.details['attempts'] = attempts;
      rec.details['first'] = { before, withStuck, after };
      rec.details['stuckSessions'] = stuckSessions;
    } finally {
      await server.child.stop();
    }
  } finally {
    await client.child.stop();
    await dir.remove();
  }
  return rec.report();
}
