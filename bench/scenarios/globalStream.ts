import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { AUTH, benchDir } from '../lib/benchConfig.ts';
import { type Started, startBareServer, startBenchServer, startLoadClient } from '../lib/children.ts';
import { REPO_ROOT } from '../lib/nodeChild.ts';
import type { ScenarioOptions, ScenarioOutput } from '../lib/scenario.ts';
import type { LatencySummary } from '../lib/stats.ts';
import { sleep } from '../lib/stats.ts';

const CLIENTS = 1000;
const TERMINAL = new Set(['completed', 'failed', 'canceled']);

interface Recorded {
  latencyMs: LatencySummary;
  unmatched: number;
  sinceTsMs: LatencySummary;
  connections: number;
  open: number;
  minDeliveries: number;
  maxDeliveries: number;
}

interface Commit {
  id: string;
  ns: string;
  frame: string;
}

interface Driven {
  created: number;
  finished: number;
  approvals: number;
  seconds: number;
}

/** The demo pipeline exactly as `conf/operator.yaml` ships it. */
async function demoPipeline(): Promise<unknown> {
  const conf = parse(await readFile(join(REPO_ROOT, 'conf', 'operator.yaml'), 'utf8')) as {
    pipelines: { demo: unknown };
  };
  return conf.pipelines.demo;
}

async function api(base: string, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${base}/api/v1${path}`, {
    ...init,
    headers: { ...AUTH, 'content-type': 'application/json', ...init.headers },
  });
}

/** `POST /jobs` the driver keeps in flight at most. */
const MAX_POSTS_IN_FLIGHT = 16;

/**
 * Creates a demo job every `everyMs` for `seconds`, open loop as a producer at that rate would: a POST is
 * sent when it is due whether or not the earlier ones have answered (their durable commits), at most
 * `MAX_POSTS_IN_FLIGHT` at once; the first failed POST stops it.
 */
async function createJobs(
  base: string,
  seconds: number,
  everyMs: number,
  created: Set<string>,
): Promise<void> {
  const started = performance.now();
  const posts = new Set<Promise<void>>();
  let failure: { error: unknown } | null = null;
  for (let due = started; due < started + seconds * 1000 && !failure; due += everyMs) {
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    while (posts.size >= MAX_POSTS_IN_FLIGHT && !failure) await Promise.race(posts);
    if (failure) break;
    const post = (async () => {
      const res = await api(base, '/jobs', { method: 'POST', body: JSON.stringify({ pipeline: 'demo' }) });
      if (res.status !== 201) throw new Error(`POST /jobs: ${res.status} ${await res.text()}`);
      created.add(((await res.json()) as { job: { job_id: string } }).job.job_id);
    })().catch((error: unknown) => {
      failure ??= { error };
    });
    posts.add(post);
    void post.finally(() => posts.delete(post));
  }
  await Promise.all(posts);
  if (failure) throw (failure as { error: unknown }).error;
}

/**
 * Real jobs through the runner: a new demo job every `everyMs` for `seconds` (`createJobs`, open loop), each
 * gate approved over the API as soon as the job pauses at it (as a person watching would, at once), until
 * every job created has finished or `drainMs` passed after the last one.
 */
async function driveDemoJobs(
  base: string,
  seconds: number,
  everyMs: number,
  drainMs: number,
): Promise<Driven> {
  const started = performance.now();
  const created = new Set<string>();
  const finished = new Set<string>();
  let approvals = 0;
  let creating = true;
  const creator = createJobs(base, seconds, everyMs, created).finally(() => {
    creating = false;
  });
  // Surfaces a failed POST at once; the loop below stops when `creating` turns false.
  creator.catch(() => {});
  const deadline = started + seconds * 1000 + drainMs;
  while (creating || performance.now() < deadline) {
    const listed = (await (await api(base, '/jobs?limit=1000')).json()) as {
      jobs: { job_id: string; status: string; paused_gate: string | null }[];
    };
    for (const job of listed.jobs) if (TERMINAL.has(job.status)) finished.add(job.job_id);
    const paused = listed.jobs.filter((job) => job.status === 'paused' && job.paused_gate);
    const answers = await Promise.all(
      paused.map((job) =>
        api(base, `/jobs/${job.job_id}/gates/${job.paused_gate}/approve`, {
          method: 'POST',
          body: JSON.stringify({ comment: 'bench' }),
        }),
      ),
    );
    for (const res of answers) {
      await res.arrayBuffer();
      if (res.ok) approvals++;
    }
    if (!creating && [...created].every((id) => finished.has(id))) break;
    await sleep(100);
  }
  await creator;
  return {
    created: created.size,
    finished: [...created].filter((id) => finished.has(id)).length,
    approvals,
    seconds: (performance.now() - started) / 1000,
  };
}

async function openClients(client: Started, url: string, headers: Record<string, string>) {
  const opened = await client.child.request<{ connected: number; failed: number; firstError: string | null }>(
    'open',
    { url, headers, count: CLIENTS, concurrency: 50, sources: 16 },
    120_000,
  );
  if (opened.failed > 0) throw new Error(`${url}: ${opened.failed} clients failed: ${opened.firstError}`);
  await client.child.request('reset', { measure: false, record: true });
}

/**
 * Issue 16, point 4: 1,000 clients on the all-jobs stream (`GET /api/v1/events/stream`) while real jobs run
 * the demo pipeline through the runner (stage processes and all), latency from each event's durable commit
 * (the server records when the store's append resolved) and from its `ts`; then the bare node:http server
 * replays the same frames at the same offsets to 1,000 clients of its own (latency from its write).
 */
export async function globalStreamScenario(options: ScenarioOptions): Promise<ScenarioOutput> {
  const seconds = options.quick ? 6 : 15;
  const everyMs = 400;
  const dir = await benchDir('global', { pipelines: { demo: await demoPipeline() } });
  const client = await startLoadClient();
  let operator: Recorded;
  let bare: Recorded;
  let driven: Driven;
  let events: Commit[];
  let replay: { events: number; seconds: number; writtenNs: Record<string, string> };
  try {
    const server = await startBenchServer(dir, options.serverNodeArgs);
    try {
      await openClients(client, `${server.url}/api/v1/events/stream`, AUTH);
      await server.child.request('recordCommits', { on: true });
      driven = await driveDemoJobs(server.url, seconds, everyMs, 20_000);
      await sleep(1000);
      await server.child.request('recordCommits', { on: false });
      events = await server.child.request<Commit[]>('commits', {}, 60_000);
      const fromNs = Object.fromEntries(events.map((e) => [e.id, e.ns]));
      operator = await client.child.request<Recorded>('recorded', { fromNs }, 60_000);
      await client.child.request('closeAll');
      options.log(
        `operator: ${driven.created} demo jobs (${driven.finished} finished, ${driven.approvals} approvals) in ${driven.seconds.toFixed(1)} s, ${events.length} events to ${operator.connections} clients: from the commit p50 ${operator.latencyMs.p50.toFixed(2)} / p99 ${operator.latencyMs.p99.toFixed(2)} ms, from ts p50 ${operator.sinceTsMs.p50} / p99 ${operator.sinceTsMs.p99} ms; clients got ${operator.minDeliveries}..${operator.maxDeliveries}`,
      );
    } finally {
      await server.child.stop(5000);
    }
    const baseline = await startBareServer(5000);
    try {
      await openClients(client, `${baseline.url}/sse`, {});
      const t0 = BigInt(events[0]?.ns ?? '0');
      replay = await baseline.child.request(
        'replay',
        { events: events.map((e) => ({ at: Number(BigInt(e.ns) - t0) / 1e6, id: e.id, frame: e.frame })) },
        120_000,
      );
      await sleep(1000);
      bare = await client.child.request<Recorded>('recorded', { fromNs: replay.writtenNs }, 60_000);
      await client.child.request('closeAll');
      options.log(
        `bare node:http: ${replay.events} frames replayed in ${replay.seconds.toFixed(1)} s: from the write p50 ${bare.latencyMs.p50.toFixed(2)} / p99 ${bare.latencyMs.p99.toFixed(2)} ms; clients got ${bare.minDeliveries}..${bare.maxDeliveries}`,
      );
    } finally {
      await baseline.child.stop();
    }
  } finally {
    await client.child.stop();
    await dir.remove();
  }
  const complete = operator.minDeliveries === events.length && operator.unmatched === 0;
  const rate = events.length / driven.seconds;
  const what = `${driven.created} demo jobs through the runner (${driven.finished} finished), ${events.length} events (${rate.toFixed(0)}/s) to ${CLIENTS} clients`;
  return {
    notes: [
      `Global stream: ${CLIENTS} clients on \`GET /api/v1/events/stream\` while a demo job (conf/operator.yaml's pipeline, stage processes run by the runner) is created every ${everyMs} ms for ${seconds} s (open loop: each POST is sent when due, whether or not the earlier ones have answered, at most ${MAX_POSTS_IN_FLIGHT} in flight) and each gate is approved over the API as soon as its job pauses; latency from each event's durable commit (the server's clock when the store's append resolved; CLOCK_MONOTONIC, shared by the processes) and from its \`ts\` (wall clock, ms). The bare node:http server then replays the same frames at the same offsets to ${CLIENTS} clients of its own; its latency runs from its write.`,
    ],
    rows: [
      {
        scenario: `commit → global SSE delivery p50, ${CLIENTS} clients, demo jobs through the runner`,
        figure: operator.latencyMs.p50,
        unit: 'ms',
        baseline: bare.latencyMs.p50,
        baselineLabel: 'bare node:http, the same frames replayed',
        target: 'reported',
        met: null,
        notes: `${what}; ${complete ? 'every client got every event' : `SOME CLIENTS MISSED EVENTS (${operator.minDeliveries}..${operator.maxDeliveries} of ${events.length}, ${operator.unmatched} unmatched)`}`,
      },
      {
        scenario: `commit → global SSE delivery p99, ${CLIENTS} clients, demo jobs through the runner`,
        figure: operator.latencyMs.p99,
        unit: 'ms',
        baseline: bare.latencyMs.p99,
        baselineLabel: 'bare node:http, the same frames replayed',
        target: 'reported',
        met: null,
        notes: `max ${operator.latencyMs.max.toFixed(1)} ms (bare ${bare.latencyMs.max.toFixed(1)}); ${operator.latencyMs.count.toLocaleString('en-US')} samples`,
      },
      {
        scenario: `event ts → global SSE delivery p50 / p99, ${CLIENTS} clients`,
        figure: operator.sinceTsMs.p50,
        unit: 'ms',
        baseline: bare.latencyMs.p50,
        baselineLabel: 'bare node:http, from its write',
        target: 'reported',
        met: null,
        notes: `p99 ${operator.sinceTsMs.p99} ms, max ${operator.sinceTsMs.max} ms: ts is stamped before the command is decided and appended, so this adds the command path and the commit to the delivery`,
      },
    ],
    details: { driven, operator, bare, replay: { events: replay.events, seconds: replay.seconds } },
  };
}
