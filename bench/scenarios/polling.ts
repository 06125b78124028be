import autocannon from 'autocannon';
import { AUTH, benchDir } from '../lib/benchConfig.ts';
import { startBenchServer } from '../lib/children.ts';
import type { ScenarioOptions, ScenarioOutput } from '../lib/scenario.ts';

const JOB = 'polling';
const CONNECTIONS = 50;

interface Load {
  url: string;
  requestsPerSecond: number;
  ok: number;
  non2xx: number;
  errors: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  bytesPerResponse: number;
}

async function load(url: string, headers: Record<string, string>, seconds: number): Promise<Load> {
  const r = await autocannon({ url, connections: CONNECTIONS, duration: seconds, headers });
  return {
    url,
    requestsPerSecond: r['2xx'] / r.duration,
    ok: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    latencyP50Ms: r.latency.p50,
    latencyP99Ms: r.latency.p99,
    bytesPerResponse: r.throughput.total / Math.max(1, r.requests.total),
  };
}

/**
 * `GET /jobs/{id}/events?after=` (the read model: 10 events per answer, the cursor 10 behind the head) with
 * 50 connections (autocannon), beside `GET /healthz` on the same server in the same run.
 */
export async function pollingScenario(options: ScenarioOptions): Promise<ScenarioOutput> {
  const seconds = options.quick ? 2 : 5;
  const dir = await benchDir('polling');
  try {
    const server = await startBenchServer(dir, options.serverNodeArgs);
    try {
      const seeded = await server.child.request<{ seq: number }>('seed', { jobId: JOB, events: 1000 });
      await server.child.request('waitProjections');
      const after = seeded.seq - 10;
      const eventsUrl = `${server.url}/api/v1/jobs/${JOB}/events?after=${after}`;
      const check = await fetch(eventsUrl, { headers: AUTH });
      const page = (await check.json()) as { events: unknown[] };
      if (check.status !== 200 || page.events.length !== 10)
        throw new Error(`polling answered ${check.status} with ${page.events?.length} events`);
      await load(eventsUrl, AUTH, 1);
      const events = await load(eventsUrl, AUTH, seconds);
      const health = await load(`${server.url}/api/v1/healthz`, {}, seconds);
      for (const [name, r] of [
        ['events', events],
        ['healthz', health],
      ] as const) {
        options.log(
          `${name}: ${Math.round(r.requestsPerSecond).toLocaleString('en-US')} req/s, p50 ${r.latencyP50Ms} ms, p99 ${r.latencyP99Ms} ms, ${r.non2xx} non-2xx, ${r.errors} errors, ${Math.round(r.bytesPerResponse)} bytes per response`,
        );
      }
      return {
        notes: [
          `Polling: autocannon, ${CONNECTIONS} connections, ${seconds} s per URL after a 1 s warm-up, in the bench process; the server logs every request at info (the default level) to a file.`,
        ],
        rows: [
          {
            scenario: `polling GET /jobs/{id}/events?after= (10 events per answer), ${CONNECTIONS} connections`,
            figure: events.requestsPerSecond,
            unit: 'req/s',
            baseline: health.requestsPerSecond,
            baselineLabel: 'GET /healthz',
            target: '≥ 5,000 req/s',
            met: events.requestsPerSecond >= 5000 && events.non2xx === 0 && events.errors === 0,
            notes: `p99 ${events.latencyP99Ms} ms (healthz ${health.latencyP99Ms} ms); ${events.non2xx} non-2xx, ${events.errors} errors`,
          },
        ],
        details: { events, health },
      };
    } finally {
      await server.child.stop();
    }
  } finally {
    await dir.remove();
  }
}
