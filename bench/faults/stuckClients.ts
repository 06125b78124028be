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
  peakRss: number;
  latencyMs: LatencySummary;
  /** From the durable commit to delivery: the fan-out alone, without the disk's share. */
  afterCommitMs: LatencySummary;
  minDeliveries: number;
  open: number;
}

/** Drives padded events at 100/s for `ms` while sampling the server's RSS (no GC) every 200 ms. */
async function phase(server: Started, client: Started, ms: number, padBytes: number): Promise<Phase> {
  await client.child.request('reset', { measure: true });
  let peakRss = 0;
  let driving = true;
  const drive = server.child.request<{ events: number; commitMs: Record<string, number> }>('drive', {
    jobId: JOB,
    eventsPerSecond: 100,
    durationMs: ms,
    padBytes,
  });
  void drive.finally(() => {
    driving = false;
  });
  while (driving) {
    const { rss } = await server.child.request<{ rss: number }>('rss', { gc: false });
    peakRss = Math.max(peakRss, rss);
    await sleep(200);
  }
  const { events, commitMs } = await drive;
  await sleep(500);
  const stats = await client.child.request<{
    latencyMs: LatencySummary;
    afterCommitMs: LatencySummary;
    minDeliveries: number;
    open: number;
  }>('stats', { commitMs });
  return {
    events,
    peakRss,
    latencyMs: stats.latencyMs,
    afterCommitMs: stats.afterCommitMs,
    minDeliveries: stats.minDeliveries,
    open: stats.open,
  };
}

/**
 * Clients that never read a byte next to healthy ones on the same job, with large events flowing: the server's
 * RSS stays bounded, the stuck clients are cut off within `stuck_timeout_seconds` (plus one heartbeat tick)
 * of blocking, and the healthy clients' p99 stays within 2× of the same run without stuck clients.
 */
export async function stuckClientsScenario(options: FaultOptions): Promise<FaultReport> {
  const healthy = options.short ? 10 : 50;
  const stuck = options.short ? 10 : 50;
  const stuckTimeout = options.short ? 1 : 2;
  const padBytes = options.short ? 16_000 : 8000;
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
      const without = await phase(server, client, options.short ? 3000 : 6000, padBytes);
      const { ports } = await client.child.request<{ ports: number[] }>('openStuck', {
        url,
        headers: AUTH,
        count: stuck,
      });
      const opens = Date.now();
      const withStuck = await phase(server, client, options.short ? 7000 : 14_000, padBytes);
      const sessions = await server.child.request<SessionRecord[]>('sessions');
      rec.action(
        `${opened.connected} healthy clients on one job, ${without.events} events of ~${Math.round(padBytes / 1000)} KB at 100/s; then ${ports.length} clients that never read joined and ${withStuck.events} more events flowed (stuck_timeout_seconds ${stuckTimeout}, max_buffered_bytes ${MAX_BUFFERED_BYTES}, heartbeat ${HEARTBEAT_SECONDS} s)`,
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
      const sinceOpen = cut.map((s) => (s.closedAt as number) - opens);
      rec.check(
        'every stuck client was cut off',
        stuckSessions.length === stuck && cut.length === stuck,
        `${cut.length} of ${stuck} cut (${stuckSessions.length} seen by the server); reasons: ${[...new Set(stuckSessions.map((s) => s.reason))].join(', ')}; ${Math.min(...sinceOpen) / 1000}..${Math.max(...sinceOpen) / 1000} s after connecting`,
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
      const rssBound = without.peakRss + stuck * MAX_BUFFERED_BYTES + 64 * 2 ** 20;
      rec.check(
        'server RSS bounded',
        withStuck.peakRss <= rssBound,
        `peak ${(withStuck.peakRss / 2 ** 20).toFixed(0)} MiB with stuck clients vs ${(without.peakRss / 2 ** 20).toFixed(0)} MiB without; bound = without + ${stuck} × max_buffered_bytes + 64 MiB = ${(rssBound / 2 ** 20).toFixed(0)} MiB`,
      );
      const a = without.afterCommitMs;
      const b = withStuck.afterCommitMs;
      rec.check(
        'healthy p99 within 2× of the run without stuck clients',
        b.p99 <= 2 * a.p99,
        `commit → delivery p99 ${b.p99.toFixed(2)} ms with stuck clients vs ${a.p99.toFixed(2)} ms without (p50 ${b.p50.toFixed(2)} vs ${a.p50.toFixed(2)} ms); append → delivery p99 ${withStuck.latencyMs.p99.toFixed(2)} vs ${without.latencyMs.p99.toFixed(2)} ms, the difference being the durable append's own time`,
      );
      rec.details['without'] = without;
      rec.details['withStuck'] = withStuck;
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
