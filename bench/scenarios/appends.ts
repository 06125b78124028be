import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import type { JobCommand } from '../../src/domain/commands.ts';
import type { PipelineDefinition } from '../../src/domain/pipeline.ts';
import { JobCommandHandler } from '../../src/infra/eventstore/jobCommandHandler.ts';
import { DURABLE_ENV_OPTIONS, openLmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';
import type { ResultRow } from '../lib/report.ts';
import type { ScenarioOptions, ScenarioOutput } from '../lib/scenario.ts';
import { type LatencySummary, Samples, summarize } from '../lib/stats.ts';

/** Alternating rounds of the command path and store.append alone at 1 and 10 writers. */
const COMMAND_ROUNDS = 2;

/** 20 external stages, no gates: every command but the last appends exactly one event. */
const PIPELINE: PipelineDefinition = {
  name: 'appends',
  stages: Array.from({ length: 20 }, (_, i) => ({ name: `s${i + 1}`, retries: 0, env: {} })),
};

interface Run {
  kind: 'command' | 'store' | 'raw';
  writers: number;
  ops: number;
  events: number;
  seconds: number;
  opsPerSecond: number;
  commits: number;
  latencyMs: LatencySummary;
}

/** `writers` loops of `op` until the deadline; each waits for its previous operation. */
async function drive(
  writers: number,
  durationMs: number,
  op: (writer: number) => Promise<number>,
): Promise<{ ops: number; events: number; seconds: number; latency: Samples }> {
  const latency = new Samples();
  let events = 0;
  const started = performance.now();
  const end = started + durationMs;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      while (performance.now() < end) {
        const t0 = performance.now();
        events += await op(w);
        latency.push(performance.now() - t0);
      }
    }),
  );
  return { ops: latency.length, events, seconds: (performance.now() - started) / 1000, latency };
}

/** Each writer drives its own jobs through the pipeline, one command per call, a new job when one ends. */
function commandWriter(commands: JobCommandHandler, writer: number) {
  let job = 0;
  let step = 0;
  return async (): Promise<number> => {
    const jobId = `w${writer}-${job}`;
    const ts = new Date().toISOString();
    const stage = PIPELINE.stages[Math.floor((step - 2) / 2)]?.name ?? '';
    const command: JobCommand =
      step === 0
        ? { type: 'create_job', job_id: jobId, pipeline: PIPELINE, params: {}, actor: 'bench', ts }
        : step === 1
          ? { type: 'start_job', actor: 'bench', ts }
          : step % 2 === 0
            ? { type: 'start_stage', stage, actor: 'bench', ts }
            : { type: 'complete_stage', stage, actor: 'bench', ts, duration_ms: 1 };
    const result = await commands.handle(jobId, command);
    step++;
    if (result.state.status === 'completed') {
      job++;
      step = 0;
    }
    return result.events.length;
  };
}

async function withStore<T>(
  fn: (store: Awaited<ReturnType<typeof openLmdbEventStore>>) => Promise<T>,
): Promise<T> {
  const path = await mkdtemp(join(tmpdir(), 'operator-bench-appends-'));
  const store = await openLmdbEventStore({ path });
  try {
    return await fn(store);
  } finally {
    await store.close();
    await rm(path, { recursive: true, force: true });
  }
}

function toRun(
  kind: Run['kind'],
  writers: number,
  commits: number,
  r: Awaited<ReturnType<typeof drive>>,
): Run {
  return {
    kind,
    writers,
    ops: r.ops,
    events: r.events,
    seconds: r.seconds,
    opsPerSecond: r.ops / r.seconds,
    commits,
    latencyMs: summarize(r.latency.values()),
  };
}

async function commandRun(writers: number, durationMs: number): Promise<Run> {
  return withStore(async (store) => {
    const commands = new JobCommandHandler(store, { maxEventsPerJob: 1000 });
    const ops = Array.from({ length: writers }, (_, w) => commandWriter(commands, w));
    await drive(writers, 300, (w) => (ops[w] as () => Promise<number>)());
    const before = store.stats().lastTxnId;
    const r = await drive(writers, durationMs, (w) => (ops[w] as () => Promise<number>)());
    return toRun('command', writers, store.stats().lastTxnId - before, r);
  });
}

async function storeRun(writers: number, durationMs: number): Promise<Run> {
  return withStore(async (store) => {
    const revisions = new Array<number>(writers).fill(-1);
    const data = {
      ts: new Date().toISOString(),
      stage: 's1',
      status: 'running',
      message: 'stage s1 started',
      payload: {},
      actor: 'bench',
    };
    const op = async (w: number) => {
      const r = await store.append(`job-store-${w}`, [{ id: randomUUID(), type: 'stage_started', data }], {
        expectedRevision: (revisions[w] as number) < 0 ? 'no_stream' : (revisions[w] as number),
      });
      revisions[w] = r.nextRevision;
      return 1;
    };
    await drive(writers, 300, op);
    const before = store.stats().lastTxnId;
    const r = await drive(writers, durationMs, op);
    return toRun('store', writers, store.stats().lastTxnId - before, r);
  });
}

async function rawRun(writers: number, durationMs: number): Promise<Run> {
  const path = await mkdtemp(join(tmpdir(), 'operator-bench-raw-'));
  const root = open({ path, ...DURABLE_ENV_OPTIONS });
  const db = root.openDB<string, number>({ name: 'events', encoding: 'string' });
  const lastTxnId = () => (root.getStats() as { lastTxnId: number }).lastTxnId;
  const data = {
    ts: new Date().toISOString(),
    stage: 's1',
    status: 'running',
    message: 'stage s1 started',
    payload: {},
    actor: 'bench',
  };
  try {
    let key = 0;
    const op = async () => {
      await db.put(key++, JSON.stringify({ id: randomUUID(), type: 'stage_started', data }));
      return 1;
    };
    await drive(writers, 300, op);
    const before = lastTxnId();
    const r = await drive(writers, durationMs, op);
    return toRun('raw', writers, lastTxnId() - before, r);
  } finally {
    await root.close();
    await rm(path, { recursive: true, force: true });
  }
}

/**
 * Durable appends through the command path (JobCommandHandler: read the stream, fold, decide, append with
 * the expected revision) for 1, 10 and 100 concurrent writers, beside raw lmdb-js puts with the same
 * durability settings (and the store's own append, for the split).
 */
export async function appendsScenario(options: ScenarioOptions): Promise<ScenarioOutput> {
  const durationMs = options.quick ? 1000 : 3000;
  const runs: Run[] = [];
  const log = (r: Run) =>
    options.log(
      `${r.kind} ${r.writers} writers: ${Math.round(r.opsPerSecond).toLocaleString('en-US')} appends/s, ${(r.ops / Math.max(1, r.commits)).toFixed(1)} per commit, p50 ${r.latencyMs.p50.toFixed(2)} ms, p99 ${r.latencyMs.p99.toFixed(2)} ms`,
    );
  for (const writers of [1, 10, 100]) {
    // At 1 and 10 writers the command path is compared with store.append alone: rounds alternate the two
    // (the machine is shared), and each side's best round counts.
    const rounds = writers < 100 ? COMMAND_ROUNDS : 1;
    for (let round = 0; round < rounds; round++)
      for (const run of [commandRun, storeRun]) {
        const r = await run(writers, durationMs);
        runs.push(r);
        log(r);
      }
    const raw = await rawRun(writers, durationMs);
    runs.push(raw);
    log(raw);
  }
  const best = (kind: Run['kind'], writers: number) =>
    runs
      .filter((r) => r.kind === kind && r.writers === writers)
      .reduce((a, b) => (b.opsPerSecond > a.opsPerSecond ? b : a));
  const roundsOf = (kind: Run['kind'], writers: number) =>
    runs
      .filter((r) => r.kind === kind && r.writers === writers)
      .map((r) => Math.round(r.opsPerSecond).toLocaleString('en-US'))
      .join(' / ');
  const rows: ResultRow[] = [1, 10].map((writers) => {
    const command = best('command', writers);
    const store = best('store', writers);
    const ratio = command.opsPerSecond / store.opsPerSecond;
    return {
      scenario: `durable appends/s, ${writers} writer${writers > 1 ? 's' : ''}, command path vs store.append`,
      figure: command.opsPerSecond,
      unit: '/s',
      baseline: store.opsPerSecond,
      baselineLabel: 'store.append alone',
      target: '≥ 0.8× store.append',
      met: ratio >= 0.8,
      notes: `best of ${COMMAND_ROUNDS} rounds each: command ${roundsOf('command', writers)}, store.append ${roundsOf('store', writers)}; raw lmdb puts ${Math.round(best('raw', writers).opsPerSecond).toLocaleString('en-US')}/s; p99 command ${command.latencyMs.p99.toFixed(2)} ms, store.append ${store.latencyMs.p99.toFixed(2)} ms; ${(command.ops / Math.max(1, command.commits)).toFixed(1)} appends per commit`,
    };
  });
  const command100 = best('command', 100);
  rows.push({
    scenario: 'durable appends/s, 100 writers, command path',
    figure: command100.opsPerSecond,
    unit: '/s',
    baseline: best('raw', 100).opsPerSecond,
    baselineLabel: 'raw lmdb puts',
    target: '≥ 20,000/s',
    met: command100.opsPerSecond >= 20_000,
    notes: `store.append alone ${Math.round(best('store', 100).opsPerSecond).toLocaleString('en-US')}/s; ${(command100.ops / Math.max(1, command100.commits)).toFixed(1)} appends per commit`,
  });
  const command10 = best('command', 10);
  rows.push({
    scenario: 'p99 append latency, 10 writers, command path',
    figure: command10.latencyMs.p99,
    unit: 'ms',
    baseline: best('raw', 10).latencyMs.p99,
    baselineLabel: 'raw lmdb put p99',
    target: '< 5 ms',
    met: command10.latencyMs.p99 < 5,
    notes: `p50 ${command10.latencyMs.p50.toFixed(2)} ms; store.append alone p99 ${best('store', 10).latencyMs.p99.toFixed(2)} ms`,
  });
  return {
    notes: [
      `Appends: ${durationMs / 1000} s per run after 0.3 s warm-up (at 1 and 10 writers, ${COMMAND_ROUNDS} alternating rounds of the command path and store.append alone, best of each); each writer drives its own jobs through a 20-stage pipeline (one event per command, a new job when one completes); raw = lmdb-js put of a similar record with DURABLE_ENV_OPTIONS (synchronous durable commits). The handler runs without the [events] log mirror.`,
    ],
    rows,
    details: { runs },
  };
}
