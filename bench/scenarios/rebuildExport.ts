import { spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { openLmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';
import { benchDir } from '../lib/benchConfig.ts';
import { seedCycleJob } from '../lib/cycleJob.ts';
import { NodeChild, REPO_ROOT } from '../lib/nodeChild.ts';
import type { ScenarioOptions, ScenarioOutput } from '../lib/scenario.ts';

const EVENTS_PER_JOB = 100;
const mib = (kib: number) => (kib / 1024).toFixed(0);

interface RebuildResult {
  events: number;
  readAllMs: number;
  rebuildMs: number;
  applied: string | null;
  peakRssKiB: number;
}

interface ExportResult {
  tool: string;
  lines: number;
  ms: number;
  peakRssKiB: number;
  peakAnonKiB: number;
  peakFileKiB: number;
}

/** True once the operator CLI has `events export` (it is being written next to this harness). */
function cliHasExport(): boolean {
  const r = spawnSync('node', ['--import', 'tsx', 'src/cli/main.ts', 'events', 'export', '--help'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return r.status === 0 && r.stdout.includes('--from');
}

async function countLines(path: string): Promise<number> {
  let n = 0;
  for await (const _ of createInterface({
    input: createReadStream(path),
    crlfDelay: Number.POSITIVE_INFINITY,
  }))
    n++;
  return n;
}

async function runExport(
  useCli: boolean,
  configPath: string,
  storePath: string,
  out: string,
  to: number | null,
): Promise<ExportResult> {
  let peak = { rss: Number.NaN, anon: Number.NaN, file: Number.NaN };
  const args = useCli
    ? [
        'events',
        'export',
        '--config',
        configPath,
        '--from',
        '0',
        '--out',
        out,
        ...(to === null ? [] : ['--to', String(to)]),
      ]
    : ['--store', storePath, '--out', out, ...(to === null ? [] : ['--max-count', String(to + 1)])];
  const t0 = performance.now();
  const child = new NodeChild(useCli ? 'src/cli/main.ts' : 'bench/lib/exportChild.ts', {
    nodeArgs: ['--import', './bench/lib/peakRss.ts'],
    args,
    onLine: (line) => {
      const m = /^@@peak_rss_kib=(\d+) anon=(\d+) file=(\d+)/.exec(line);
      if (m) peak = { rss: Number(m[1]), anon: Number(m[2]), file: Number(m[3]) };
    },
  });
  const exit = await child.exited;
  const ms = performance.now() - t0;
  if (exit.code !== 0)
    throw new Error(`export exited with ${exit.signal ?? exit.code}: ${child.recent.slice(-5).join(' | ')}`);
  return {
    tool: useCli ? 'operator events export' : 'store readAll streamed to a file',
    lines: await countLines(out),
    ms,
    peakRssKiB: peak.rss,
    peakAnonKiB: peak.anon,
    peakFileKiB: peak.file,
  };
}

/**
 * A store of 1M events (10k finished jobs of 100 events): projection rebuild into fresh directories beside a
 * raw readAll of the same events (one child process, one after the other), then the export's peak RSS for the
 * whole log beside an export of its first tenth (constant memory means the two are about the same).
 */
export async function rebuildExportScenario(options: ScenarioOptions): Promise<ScenarioOutput> {
  const total = options.quick ? 100_000 : 1_000_000;
  const dir = await benchDir('rebuild', { maxEventsPerJob: 1000 });
  const storePath = join(dir.dataDir, 'store');
  try {
    const t0 = performance.now();
    const store = await openLmdbEventStore({ path: storePath });
    let written = 0;
    try {
      const jobs = Math.ceil(total / EVENTS_PER_JOB);
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < jobs) {
            const i = next++;
            const r = await seedCycleJob(store, `r${i}`, EVENTS_PER_JOB, {
              finish: true,
              maxEventsPerJob: 1000,
            });
            written += r.events;
          }
        }),
      );
    } finally {
      await store.close();
    }
    options.log(
      `seeded ${written.toLocaleString('en-US')} events in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );

    let rebuildPeak = '';
    const rebuildChild = new NodeChild('bench/lib/rebuildChild.ts', {
      nodeArgs: ['--import', './bench/lib/peakRss.ts', ...options.serverNodeArgs],
      args: ['--store', storePath, '--out', join(dir.dir, 'rebuilt')],
      onLine: (line) => {
        const m = /^@@peak_rss_kib=(\d+) anon=(\d+) file=(\d+)/.exec(line);
        if (m)
          rebuildPeak = `peak RSS ${mib(Number(m[1]))} MiB (anonymous ${mib(Number(m[2]))}, file-backed ${mib(Number(m[3]))})`;
      },
    });
    const rebuild = await rebuildChild.nextEvent<RebuildResult>('result', 900_000);
    await rebuildChild.exited;
    const rebuildRate = rebuild.events / (rebuild.rebuildMs / 1000);
    const readAllRate = rebuild.events / (rebuild.readAllMs / 1000);
    options.log(
      `raw readAll ${rebuild.events.toLocaleString('en-US')} events in ${(rebuild.readAllMs / 1000).toFixed(1)} s; rebuild in ${(rebuild.rebuildMs / 1000).toFixed(1)} s (${Math.round(rebuildRate).toLocaleString('en-US')} events/s)`,
    );

    const useCli = cliHasExport();
    const full = await runExport(
      useCli,
      dir.configPath,
      storePath,
      join(dir.dir, 'export-full.ndjson'),
      null,
    );
    const tenth = await runExport(
      useCli,
      dir.configPath,
      storePath,
      join(dir.dir, 'export-tenth.ndjson'),
      Math.floor(written / 10) - 1,
    );
    options.log(
      `${full.tool}: ${full.lines.toLocaleString('en-US')} lines in ${(full.ms / 1000).toFixed(1)} s, peak RSS ${mib(full.peakRssKiB)} MiB (anonymous ${mib(full.peakAnonKiB)}, file-backed ${mib(full.peakFileKiB)}); first tenth: ${mib(tenth.peakRssKiB)} MiB (anonymous ${mib(tenth.peakAnonKiB)}, file-backed ${mib(tenth.peakFileKiB)})`,
    );
    if (full.lines !== written) throw new Error(`export wrote ${full.lines} lines for ${written} events`);
    const millions = `${written >= 1_000_000 ? `${(written / 1e6).toFixed(0)}M` : `${(written / 1000).toFixed(0)}k`}`;
    return {
      notes: [
        `Rebuild/export: ${written.toLocaleString('en-US')} events in ${Math.round(written / EVENTS_PER_JOB).toLocaleString('en-US')} finished jobs; rebuild = createProjections (jsonl, state/gates, read model) into fresh directories, timed until the runner's first caught_up; the baseline readAll runs in the same child just before. Export: ${full.tool}, peak RSS = getrusage ru_maxrss of the export process.`,
      ],
      rows: [
        {
          scenario: `projection rebuild of ${millions} events`,
          figure: rebuildRate,
          unit: 'events/s',
          baseline: readAllRate,
          baselineLabel: 'raw readAll, same events',
          target: '≥ 50,000 events/s',
          met: rebuildRate >= 50_000,
          notes: `${(rebuild.rebuildMs / 1000).toFixed(1)} s for ${Math.round(written / EVENTS_PER_JOB).toLocaleString('en-US')} jobs' files and read model; rebuild process ${rebuildPeak}${options.quick ? ' (--quick: 100k events)' : ''}`,
        },
        {
          scenario: `export of ${millions} events, peak RSS`,
          figure: full.peakRssKiB / 1024,
          unit: 'MiB',
          baseline: tenth.peakRssKiB / 1024,
          baselineLabel: 'export of the first tenth',
          target: 'reported; constant memory',
          met: full.peakAnonKiB <= tenth.peakAnonKiB * 1.25,
          notes: `anonymous (heap, buffers) ${mib(full.peakAnonKiB)} MiB vs ${mib(tenth.peakAnonKiB)} MiB for a tenth: constant memory is judged on it; file-backed ${mib(full.peakFileKiB)} MiB = LMDB's mapped pages, reclaimable; ${full.tool}, ${(full.ms / 1000).toFixed(1)} s, ${Math.round(written / (full.ms / 1000)).toLocaleString('en-US')} events/s`,
        },
      ],
      details: { written, rebuild: { ...rebuild, rebuildPeak }, export: { full, tenth } },
    };
  } finally {
    await dir.remove();
  }
}
