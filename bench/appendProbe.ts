// What the live projections cost the append path, apart from any SSE fan-out: one process appends to a job
// at a steady rate (open loop, as a producer would) while the projection runner follows the log as
// `operator serve` wires it, and prints the append latency and the CPU the process used, per thread.
//
//   node --import tsx bench/appendProbe.ts [--seconds 15] [--rate 100] [--jobs 1] [--only jsonl,state,readmodel,logs]
//                                          [--interval <ms>]
//
// `--interval` is the runner's live batch interval (default: what `operator serve` uses, 25 ms; 0: none).
// `--only` feeds the runner only the projections named (`--only none`: no runner at all), so runs side by
// side give each projection's share. Alternate the variants and repeat them: the figures move from run to
// run on a shared machine. The CPU is read from /proc/self/task/*/stat (Linux), from the process's start.
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jobStreamName } from '../src/infra/eventstore/eventStore.ts';
import { openLmdbEventStore } from '../src/infra/eventstore/lmdb/index.ts';
import { ActiveGenerationReadModel } from '../src/projections/activeGenerationReadModel.ts';
import { LIVE_BATCH_INTERVAL_MS } from '../src/projections/createProjections.ts';
import { JsonlProjection } from '../src/projections/jsonlProjection.ts';
import type { Projection } from '../src/projections/projection.ts';
import { ProjectionRunner } from '../src/projections/projectionRunner.ts';
import { ReadModelStore } from '../src/projections/readModelStore.ts';
import { StageLogProjection } from '../src/projections/stageLogProjection.ts';
import { StateProjection } from '../src/projections/stateProjection.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    rate: { type: 'string', default: '100' },
    jobs: { type: 'string', default: '1' },
    only: { type: 'string', default: 'jsonl,state,readmodel,logs' },
    interval: { type: 'string', default: String(LIVE_BATCH_INTERVAL_MS) },
  },
});
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const jobs = Number(values.jobs);
const liveBatchIntervalMs = Number(values.interval);
if (!(liveBatchIntervalMs >= 0)) throw new Error('--interval must be 0 or more');
const only = new Set(values.only.split(',').map((s) => s.trim()));
if (!(seconds > 0 && rate > 0 && jobs > 0)) throw new Error('--seconds, --rate and --jobs must be positive');
const unknown = [...only].filter((name) => !['jsonl', 'state', 'readmodel', 'logs', 'none'].includes(name));
if (unknown.length > 0)
  throw new Error(
    `--only: no projection named ${unknown.join(', ')} (jsonl, state, readmodel, logs, or none)`,
  );

const dir = await mkdtemp(join(tmpdir(), 'operator-append-probe-'));
const store = await openLmdbEventStore({ path: join(dir, 'store') });
const readModelStore = ReadModelStore.open(join(dir, 'data'));
const files = { runsDir: join(dir, 'runs'), checkpoints: readModelStore.checkpoints, store };
// The same projections, in the same order, as createProjections (src/projections/createProjections.ts).
const projections: Projection[] = [
  new JsonlProjection(files),
  new StateProjection(files),
  new ActiveGenerationReadModel(readModelStore),
  new StageLogProjection(files),
].filter((p) => only.has(p.name));
const runner =
  projections.length > 0 ? new ProjectionRunner({ store, projections, liveBatchIntervalMs }) : null;
await runner?.start();

const latencies: number[] = [];
const revisions = new Array<number>(jobs).fill(-1);
const pending: Promise<void>[] = [];
const cpuBefore = process.cpuUsage();
const start = performance.now();
for (let n = 0; performance.now() - start < seconds * 1000; n++) {
  const wait = start + (n * 1000) / rate - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  const job = n % jobs;
  const revision = revisions[job] as number;
  const sent = performance.now();
  const data = { ts: new Date().toISOString(), status: 'running', actor: 'probe', stage: 'a', payload: {} };
  pending.push(
    store
      .append(
        jobStreamName(`probe-${job}`),
        [{ id: randomUUID(), type: revision === -1 ? 'job_created' : 'stage_started', data }],
        { expectedRevision: revision === -1 ? 'no_stream' : revision },
      )
      .then(() => {
        latencies.push(performance.now() - sent);
      }),
  );
  revisions[job] = revision + 1;
}
await Promise.all(pending);
const head = await store.headPosition();
if (runner && head !== null && !(await runner.waitForPosition(head, 60_000)))
  throw new Error('the projections did not reach the head');
const cpu = process.cpuUsage(cpuBefore);

const threads = new Map<string, { user: number; system: number }>();
for (const tid of readdirSync('/proc/self/task')) {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const name = tid === String(process.pid) ? 'main thread' : 'other threads';
  const sum = threads.get(name) ?? { user: 0, system: 0 };
  sum.user += Number(fields[11]) * 10; // clock ticks of 10 ms
  sum.system += Number(fields[12]) * 10;
  threads.set(name, sum);
}
latencies.sort((a, b) => a - b);
const q = (p: number) =>
  (latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0).toFixed(2);
const ms = (n: number) => `${(n / 1000).toFixed(0)}`;
console.log(
  [
    `projections: ${projections.map((p) => p.name).join(', ') || 'none (no runner)'}; live batch interval ${liveBatchIntervalMs} ms`,
    `${latencies.length} appends at ${rate}/s to ${jobs} job(s): latency p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${q(0.99)} ms`,
    `process CPU while appending and catching up: ${ms(cpu.user + cpu.system)} ms (${((cpu.user + cpu.system) / 1000 / latencies.length).toFixed(2)} ms per append)`,
    ...[...threads].map(
      ([name, t]) => `  ${name} since start: ${t.user + t.system} ms (${t.system} ms in the kernel)`,
    ),
  ].join('\n'),
);
await runner?.close();
await readModelStore.close();
await store.close();
await rm(dir, { recursive: true, force: true });
