// Append throughput of the LMDB event store next to raw lmdb-js puts with the same durability settings,
// for 1 and 100 concurrent writers, measured in the same run. Run: node --import tsx bench/appends.ts
// Prints a markdown table and writes bench/results/appends.json. No targets are asserted.
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open } from 'lmdb';
import { DURABLE_ENV_OPTIONS, openLmdbEventStore } from '../src/infra/eventstore/lmdb/index.ts';

export interface AppendsBenchOptions {
  /** Measured time per scenario. Default 3000 ms (4 scenarios: about 13 s in all). */
  durationMs?: number;
  writerCounts?: readonly number[];
}

export interface ScenarioResult {
  kind: 'store' | 'raw';
  writers: number;
  ops: number;
  seconds: number;
  opsPerSecond: number;
  commits: number;
  p50Ms: number;
  p99Ms: number;
}

const payload = {
  job_id: 'j_bench',
  stage: 'script',
  status: 'completed',
  message: 'stage script completed in 2.1s',
};

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** Runs `writers` loops of `op` until the deadline; each loop waits for its previous operation. */
async function drive(
  writers: number,
  durationMs: number,
  op: (writer: number, k: number) => Promise<unknown>,
): Promise<{ ops: number; seconds: number; latencies: number[] }> {
  const latencies: number[] = [];
  const started = performance.now();
  const end = started + durationMs;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let k = 0; performance.now() < end; k++) {
        const t0 = performance.now();
        await op(w, k);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { ops: latencies.length, seconds: (performance.now() - started) / 1000, latencies };
}

function result(
  kind: ScenarioResult['kind'],
  writers: number,
  commits: number,
  run: { ops: number; seconds: number; latencies: number[] },
): ScenarioResult {
  const sorted = [...run.latencies].sort((a, b) => a - b);
  return {
    kind,
    writers,
    ops: run.ops,
    seconds: run.seconds,
    opsPerSecond: run.ops / run.seconds,
    commits,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
  };
}

async function storeScenario(writers: number, durationMs: number): Promise<ScenarioResult> {
  const path = await mkdtemp(join(tmpdir(), 'operator-bench-store-'));
  const store = await openLmdbEventStore({ path });
  try {
    const revisions = new Array<number>(writers).fill(-1);
    const append = async (w: number) => {
      const r = await store.append(
        `job-bench-${w}`,
        [{ id: randomUUID(), type: 'stage_completed', data: payload }],
        {
          expectedRevision: revisions[w]! < 0 ? 'no_stream' : revisions[w]!,
        },
      );
      revisions[w] = r.nextRevision;
    };
    await drive(writers, 200, append); // warm-up
    const before = store.stats().lastTxnId;
    const run = await drive(writers, durationMs, append);
    return result('store', writers, store.stats().lastTxnId - before, run);
  } finally {
    await store.close();
    await rm(path, { recursive: true, force: true });
  }
}

async function rawScenario(writers: number, durationMs: number): Promise<ScenarioResult> {
  const path = await mkdtemp(join(tmpdir(), 'operator-bench-raw-'));
  const root = open({ path, ...DURABLE_ENV_OPTIONS });
  const db = root.openDB<string, number>({ name: 'events', encoding: 'string' });
  const lastTxnId = () => (root.getStats() as { lastTxnId: number }).lastTxnId;
  try {
    let key = 0;
    const put = () =>
      db.put(key++, JSON.stringify({ id: randomUUID(), type: 'stage_completed', data: payload }));
    await drive(writers, 200, put);
    const before = lastTxnId();
    const run = await drive(writers, durationMs, put);
    return result('raw', writers, lastTxnId() - before, run);
  } finally {
    await root.close();
    await rm(path, { recursive: true, force: true });
  }
}

export async function runAppendsBench(options: AppendsBenchOptions = {}): Promise<ScenarioResult[]> {
  const durationMs = options.durationMs ?? 3000;
  const results: ScenarioResult[] = [];
  for (const writers of options.writerCounts ?? [1, 100]) {
    results.push(await storeScenario(writers, durationMs));
    results.push(await rawScenario(writers, durationMs));
  }
  return results;
}

export function machineLine(): string {
  const cpu = cpus();
  return `${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown cpu'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}, ${process.platform}/${process.arch}, data in ${tmpdir()}`;
}

export function markdownTable(results: readonly ScenarioResult[]): string {
  const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits });
  const lines = [
    '| writers | store appends/s | raw puts/s | store / raw | store appends per commit | raw puts per commit | store p50 / p99 ms |',
    '|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const store of results.filter((r) => r.kind === 'store')) {
    const raw = results.find((r) => r.kind === 'raw' && r.writers === store.writers);
    if (!raw) continue;
    lines.push(
      `| ${store.writers} | ${fmt(store.opsPerSecond)} | ${fmt(raw.opsPerSecond)} | ${fmt(store.opsPerSecond / raw.opsPerSecond, 2)} | ${fmt(store.ops / Math.max(1, store.commits), 1)} | ${fmt(raw.ops / Math.max(1, raw.commits), 1)} | ${fmt(store.p50Ms, 2)} / ${fmt(store.p99Ms, 2)} |`,
    );
  }
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`# Appends bench\n\nMachine: ${machineLine()}\n`);
  console.log('Single-event appends with expectedRevision, each writer its own stream; raw = lmdb-js put of');
  console.log(
    'a similar record, same environment settings (synchronous durable commits, no overlappingSync).\n',
  );
  const results = await runAppendsBench();
  console.log(markdownTable(results));
  const out = fileURLToPath(new URL('./results/', import.meta.url));
  await mkdir(out, { recursive: true });
  await writeFile(
    join(out, 'appends.json'),
    `${JSON.stringify({ machine: machineLine(), date: new Date().toISOString(), results }, null, 2)}\n`,
  );
}
