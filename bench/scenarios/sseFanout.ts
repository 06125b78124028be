import { AUTH, benchDir } from '../lib/benchConfig.ts';
import { type Started, startBareServer, startBenchServer, startLoadClient } from '../lib/children.ts';
import type { ScenarioOptions, ScenarioOutput } from '../lib/scenario.ts';
import type { LatencySummary } from '../lib/stats.ts';
import { sleep } from '../lib/stats.ts';

const CLIENTS = 1000;
const EVENTS_PER_SECOND = 100;
const JOB = 'fanout';

interface ClientStats {
  connections: number;
  open: number;
  deliveries: number;
  minDeliveries: number;
  maxDeliveries: number;
  latencyMs: LatencySummary;
}

interface FanoutRun {
  opened: { connected: number; failed: number; firstError: string | null; ms: number };
  drive: { events: number; eventsPerSecond: number; appendMs?: LatencySummary };
  latency: ClientStats;
  burst: {
    events: number;
    seconds: number;
    deliveries: number;
    deliveriesPerSecond: number;
    complete: boolean;
  };
}

/** Opens the clients, drives 100 events/s (latency), then a burst (throughput), against one server. */
async function fanout(
  server: Started,
  client: Started,
  streamUrl: string,
  headers: Record<string, string>,
  options: { durationMs: number; burstEvents: number; log: (line: string) => void; label: string },
): Promise<FanoutRun> {
  const opened = await client.child.request<FanoutRun['opened']>('open', {
    url: streamUrl,
    headers,
    count: CLIENTS,
    concurrency: 50,
  });
  if (opened.failed > 0)
    throw new Error(`${options.label}: ${opened.failed} clients failed: ${opened.firstError}`);
  options.log(`${options.label}: ${opened.connected} clients connected in ${Math.round(opened.ms)} ms`);
  await server.child.request('drive', { jobId: JOB, eventsPerSecond: EVENTS_PER_SECOND, durationMs: 1000 });
  await sleep(500);
  await client.child.request('reset', { measure: true });
  const drive = await server.child.request<FanoutRun['drive']>('drive', {
    jobId: JOB,
    eventsPerSecond: EVENTS_PER_SECOND,
    durationMs: options.durationMs,
  });
  await sleep(1000);
  const latency = await client.child.request<ClientStats>('stats');
  options.log(
    `${options.label}: ${drive.events} events at ${Math.round(drive.eventsPerSecond)}/s, delivery p50 ${latency.latencyMs.p50.toFixed(2)} ms, p99 ${latency.latencyMs.p99.toFixed(2)} ms, every client got ${latency.minDeliveries}..${latency.maxDeliveries}`,
  );
  await client.child.request('reset', { measure: false });
  const burst = await server.child.request<{ startNs: string; events: number }>('burst', {
    jobId: JOB,
    events: options.burstEvents,
    chunk: 50,
  });
  const done = await client.child.request<{ reachedAll: boolean; lastNs: string; deliveries: number }>(
    'waitDeliveries',
    { perClient: burst.events, timeoutMs: 120_000 },
  );
  const seconds = Number(BigInt(done.lastNs) - BigInt(burst.startNs)) / 1e9;
  const deliveries = burst.events * CLIENTS;
  options.log(
    `${options.label}: burst of ${burst.events} events to ${CLIENTS} clients in ${seconds.toFixed(2)} s (${Math.round(deliveries / seconds).toLocaleString('en-US')} deliveries/s)${done.reachedAll ? '' : ' INCOMPLETE'}`,
  );
  await client.child.request('closeAll');
  return {
    opened,
    drive,
    latency,
    burst: {
      events: burst.events,
      seconds,
      deliveries: done.deliveries,
      deliveriesPerSecond: deliveries / seconds,
      complete: done.reachedAll,
    },
  };
}

/**
 * Append → SSE delivery latency for 1,000 clients on one job at 100 events/s, and the fan-out throughput
 * of a burst, on the operator and on a bare node:http server with a hand-written loop, in the same run.
 */
export async function sseFanoutScenario(options: ScenarioOptions): Promise<ScenarioOutput> {
  const durationMs = options.quick ? 3000 : 10_000;
  const burstEvents = options.quick ? 1000 : 3000;
  const client = await startLoadClient();
  const dir = await benchDir('fanout', { heartbeatSeconds: 5 });
  let operator: FanoutRun;
  let bare: FanoutRun;
  try {
    const server = await startBenchServer(dir, options.serverNodeArgs);
    try {
      await server.child.request('seed', { jobId: JOB, events: 10 });
      await server.child.request('waitProjections');
      operator = await fanout(server, client, `${server.url}/api/v1/jobs/${JOB}/events/stream`, AUTH, {
        durationMs,
        burstEvents,
        log: options.log,
        label: 'operator',
      });
    } finally {
      await server.child.stop();
    }
    const baseline = await startBareServer(5000);
    try {
      bare = await fanout(
        baseline,
        client,
        `${baseline.url}/sse`,
        {},
        {
          durationMs,
          burstEvents,
          log: options.log,
          label: 'bare node:http',
        },
      );
    } finally {
      await baseline.child.stop();
    }
  } finally {
    await client.child.stop();
    await dir.remove();
  }
  const complete = (run: FanoutRun) =>
    run.latency.minDeliveries === run.drive.events
      ? 'every client got every event'
      : `clients got ${run.latency.minDeliveries}..${run.latency.maxDeliveries} of ${run.drive.events} events`;
  const appendNote = `append itself p50 ${operator.drive.appendMs?.p50.toFixed(2)} ms / p99 ${operator.drive.appendMs?.p99.toFixed(2)} ms (durable commit); ${complete(operator)}`;
  return {
    notes: [
      `SSE latency: \`t_ns\` in the event payload, the sender's CLOCK_MONOTONIC (process.hrtime) taken just before the append, to the arrival of the chunk completing the frame in the client process (same clock); event \`ts\` has only ms resolution. ${CLIENTS} clients in one load-client process; ${EVENTS_PER_SECOND} events/s for ${durationMs / 1000} s; stage events carry \`t_ns\` (2 of every 5 events of the cycle job).`,
    ],
    rows: [
      {
        scenario: `append → SSE delivery p50, ${CLIENTS} clients, ${EVENTS_PER_SECOND} events/s`,
        figure: operator.latency.latencyMs.p50,
        unit: 'ms',
        baseline: bare.latency.latencyMs.p50,
        baselineLabel: 'bare node:http loop',
        target: '< 2 ms',
        met: operator.latency.latencyMs.p50 < 2,
        notes: appendNote,
      },
      {
        scenario: `append → SSE delivery p99, ${CLIENTS} clients, ${EVENTS_PER_SECOND} events/s`,
        figure: operator.latency.latencyMs.p99,
        unit: 'ms',
        baseline: bare.latency.latencyMs.p99,
        baselineLabel: 'bare node:http loop',
        target: '< 10 ms',
        met: operator.latency.latencyMs.p99 < 10,
        notes: `samples: ${operator.latency.latencyMs.count.toLocaleString('en-US')} (baseline ${bare.latency.latencyMs.count.toLocaleString('en-US')}); max ${operator.latency.latencyMs.max.toFixed(1)} ms`,
      },
      {
        scenario: `fan-out throughput, burst of ${burstEvents} events to ${CLIENTS} clients`,
        figure: operator.burst.deliveriesPerSecond,
        unit: 'deliveries/s',
        baseline: bare.burst.deliveriesPerSecond,
        baselineLabel: 'bare node:http ceiling',
        target: '≥ 0.5× the ceiling',
        met:
          operator.burst.complete &&
          operator.burst.deliveriesPerSecond >= 0.5 * bare.burst.deliveriesPerSecond,
        notes: `first append to the last client's last event: ${operator.burst.seconds.toFixed(2)} s vs ${bare.burst.seconds.toFixed(2)} s`,
      },
    ],
    details: { operator, bare },
  };
}
