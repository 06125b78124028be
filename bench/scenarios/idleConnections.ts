import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AUTH, benchDir } from '../lib/benchConfig.ts';
import { type Started, startBareServer, startBenchServer, startLoadClient } from '../lib/children.ts';
import type { ScenarioOptions, ScenarioOutput } from '../lib/scenario.ts';
import { sleep } from '../lib/stats.ts';

const JOB = 'idle';
const HEARTBEAT_SECONDS = 1;

interface IdleRun {
  target: number;
  connected: number;
  failed: number;
  openMs: number;
  rssBefore: number;
  rssAfter: number;
  heapBefore: number;
  heapAfter: number;
  bytesPerConnection: number;
  minHeartbeats: number;
  holdSeconds: number;
  open: number;
  nofile: string | null;
}

async function holdIdle(
  server: Started,
  client: Started,
  url: string,
  headers: Record<string, string>,
  count: number,
  holdSeconds: number,
  log: (line: string) => void,
  label: string,
  snapshotPath: string | null,
): Promise<IdleRun> {
  // Warm the code paths (and the allocator) with a few connections first, so the difference is per connection.
  await client.child.request('open', { url, headers, count: 200, concurrency: 50 });
  await client.child.request('closeAll');
  await sleep(1000);
  const before = await server.child.request<{ rss: number; heapUsed: number }>('rss');
  const opened = await client.child.request<{
    connected: number;
    failed: number;
    firstError: string | null;
    ms: number;
  }>('open', { url, headers, count, concurrency: 100, sources: 16 }, 300_000);
  log(
    `${label}: ${opened.connected} of ${count} connections open in ${(opened.ms / 1000).toFixed(1)} s${opened.failed ? ` (${opened.failed} failed: ${opened.firstError})` : ''}`,
  );
  await client.child.request('reset', { measure: false });
  await sleep(holdSeconds * 1000 + 300);
  const stats = await client.child.request<{ open: number; minHeartbeats: number; maxHeartbeats: number }>(
    'stats',
    {
      latency: false,
    },
  );
  const after = await server.child.request<{ rss: number; heapUsed: number }>('rss');
  if (snapshotPath) {
    await mkdir(dirname(snapshotPath), { recursive: true });
    await server.child.request('heapSnapshot', { path: snapshotPath }, 300_000);
    log(`${label}: heap snapshot with ${opened.connected} connections in ${snapshotPath}`);
  }
  await client.child.request('closeAll', {}, 120_000);
  const run: IdleRun = {
    target: count,
    connected: opened.connected,
    failed: opened.failed,
    openMs: opened.ms,
    rssBefore: before.rss,
    rssAfter: after.rss,
    heapBefore: before.heapUsed,
    heapAfter: after.heapUsed,
    bytesPerConnection: (after.rss - before.rss) / Math.max(1, opened.connected),
    minHeartbeats: stats.minHeartbeats,
    holdSeconds,
    open: stats.open,
    nofile: server.ready.nofile,
  };
  log(
    `${label}: RSS ${(before.rss / 2 ** 20).toFixed(0)} -> ${(after.rss / 2 ** 20).toFixed(0)} MiB = ${(run.bytesPerConnection / 1024).toFixed(1)} KiB per connection (V8 heap ${((after.heapUsed - before.heapUsed) / opened.connected / 1024).toFixed(1)} KiB of it); ${stats.open} still open after ${holdSeconds} s, heartbeats per connection ${stats.minHeartbeats}..${stats.maxHeartbeats}`,
  );
  return run;
}

/**
 * Idle SSE connections on one job with heartbeats flowing (every second here): server RSS per connection
 * (after a full GC, before and after), on the operator and on a bare node:http server holding the same.
 */
export async function idleConnectionsScenario(options: ScenarioOptions): Promise<ScenarioOutput> {
  const count = options.quick ? 2000 : 10_000;
  const holdSeconds = options.quick ? 3 : 5;
  const client = await startLoadClient();
  const dir = await benchDir('idle', { heartbeatSeconds: HEARTBEAT_SECONDS });
  let operator: IdleRun;
  let bare: IdleRun;
  try {
    const server = await startBenchServer(dir, options.serverNodeArgs);
    try {
      await server.child.request('seed', { jobId: JOB, events: 10 });
      await server.child.request('waitProjections');
      const url = `${server.url}/api/v1/jobs/${JOB}/events/stream`;
      const snapshot = options.profileDir ? join(options.profileDir, 'operator-idle.heapsnapshot') : null;
      operator = await holdIdle(
        server,
        client,
        url,
        AUTH,
        count,
        holdSeconds,
        options.log,
        'operator',
        snapshot,
      );
    } finally {
      await server.child.stop();
    }
    const baseline = await startBareServer(HEARTBEAT_SECONDS * 1000);
    try {
      bare = await holdIdle(
        baseline,
        client,
        `${baseline.url}/sse`,
        {},
        count,
        holdSeconds,
        options.log,
        'bare node:http',
        options.profileDir ? join(options.profileDir, 'bare-idle.heapsnapshot') : null,
      );
    } finally {
      await baseline.child.stop();
    }
  } finally {
    await client.child.stop();
    await dir.remove();
  }
  const flowing = operator.minHeartbeats >= holdSeconds - 1 && operator.open === operator.connected;
  const kib = (b: number) => b / 1024;
  return {
    notes: [
      `Idle connections: ${count.toLocaleString('en-US')} SSE connections to one job, heartbeat every ${HEARTBEAT_SECONDS} s, held ${holdSeconds} s; server RSS read after a full GC (--expose-gc) before opening and after holding; open-file limit in the server child: ${operator.nofile}.`,
    ],
    rows: [
      {
        scenario: `idle SSE connections held (heartbeats flowing), RSS per connection`,
        figure: kib(operator.bytesPerConnection),
        unit: 'KiB',
        baseline: kib(bare.bytesPerConnection),
        baselineLabel: 'bare node:http',
        target: '≥ 10,000 connections, ≤ 15 KB each',
        met: operator.connected >= 10_000 && flowing && operator.bytesPerConnection <= 15 * 1024,
        notes: `V8 heap ${kib((operator.heapAfter - operator.heapBefore) / operator.connected).toFixed(1)} KiB of it (bare ${kib((bare.heapAfter - bare.heapBefore) / bare.connected).toFixed(1)} KiB); ${operator.connected.toLocaleString('en-US')} held, ${operator.open.toLocaleString('en-US')} still open after ${holdSeconds} s, every one got ≥ ${operator.minHeartbeats} heartbeats${count < 10_000 ? ' (--quick: fewer than 10,000, so not met by definition)' : ''}`,
      },
    ],
    details: { operator, bare },
  };
}
