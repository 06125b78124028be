import { createReadStream, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { openLmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';
import { benchDir } from '../lib/benchConfig.ts';
import { seedCycleJob } from '../lib/cycleJob.ts';
import { NodeChild } from '../lib/nodeChild.ts';
import type { ScenarioOptions, ScenarioOutput } from '../lib/scenario.ts';

const EVENTS_PER_JOB = 100;
const REBUILD_ROUNDS = 2;

interface RebuildResult {
  durationMs: number;
  jobs: number;
  position: string;
}
const mib = (kib: number) => (kib / 1024).toFixed(0);

interface Peak {
  rssKiB: number;
  anonKiB: number;
  fileKiB: number;
}

interface CliRun {
  exit: number | null;
  ms: number;
  stdout: string[];
  peak: Peak;
  /** CPU seconds (user + system) of each thread of the process (its last sample). */
  threadCpu: ThreadCpu;
}

interface ThreadCpu {
  /** The process's main thread (tid = pid): the rebuild's reading, files and fold. */
  main: number;
  /** Every other thread, busiest first (the read model's worker thread, libuv's, LMDB's, V8's). */
  others: number[];
  /** Of all of it, the time in the kernel (file creation is most of it in a rebuild). */
  system: number;
}

/**
 * Samples the CPU time of each thread of a process from /proc/<pid>/task/<tid>/stat every 100 ms (Linux;
 * elsewhere nothing). On a shared machine the busiest thread's CPU time says more than the wall time: on
 * free cores, a process cannot finish before its busiest thread has run.
 */
function threadCpuSampler(pid: number): { stop(): ThreadCpu } {
  const ticks = 100; // USER_HZ
  const cpu = new Map<string, { user: number; system: number }>();
  const sample = () => {
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        cpu.set(tid, { user: Number(fields[11]) / ticks, system: Number(fields[12]) / ticks });
      }
    } catch {
      // the process (or a thread) is gone, or not Linux
    }
  };
  const timer = setInterval(sample, 100);
  return {
    stop() {
      clearInterval(timer);
      const seconds = (t: { user: number; system: number } | undefined) => (t ? t.user + t.system : 0);
      const others = [...cpu].filter(([tid]) => tid !== String(pid)).map(([, t]) => seconds(t));
      let system = 0;
      for (const t of cpu.values()) system += t.system;
      return { main: seconds(cpu.get(String(pid))), others: others.sort((a, b) => b - a), system };
    },
  };
}

const cpuText = (threads: ThreadCpu) =>
  `CPU ${(threads.main + threads.others.reduce((a, b) => a + b, 0)).toFixed(1)} s in all (${threads.system.toFixed(1)} s in the kernel): main thread ${threads.main.toFixed(1)} s, busiest others ${threads.others
    .slice(0, 3)
    .map((s) => `${s.toFixed(1)} s`)
    .join(', ')}`;

/** An `operator` CLI command in a child, with its peak RSS (bench/lib/peakRss.ts) and its stdout lines. */
async function operatorCli(args: readonly string[], nodeArgs: readonly string[] = []): Promise<CliRun> {
  const stdout: string[] = [];
  let peak: Peak = { rssKiB: Number.NaN, anonKiB: Number.NaN, fileKiB: Number.NaN };
  const t0 = performance.now();
  const child = new NodeChild('src/cli/main.ts', {
    nodeArgs: ['--import', './bench/lib/peakRss.ts', ...nodeArgs],
    args,
    onLine: (line, stream) => {
      const m = /^@@peak_rss_kib=(\d+) anon=(\d+) file=(\d+)/.exec(line);
      if (m) peak = { rssKiB: Number(m[1]), anonKiB: Number(m[2]), fileKiB: Number(m[3]) };
      else if (stream === 'stdout') stdout.push(line);
    },
  });
  const sampler = threadCpuSampler(child.pid);
  const exit = await child.exited;
  const run = { exit: exit.code, ms: performance.now() - t0, stdout, peak, threadCpu: sampler.stop() };
  if (exit.code !== 0)
    throw new Error(
      `operator ${args.join(' ')} exited ${exit.signal ?? exit.code}: ${child.recent.slice(-5).join(' | ')}`,
    );
  return run;
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

/** What bench/lib/createFilesChild.ts reports. */
interface FilesAlone {
  jobs: number;
  dirs: number;
  files: number;
  bytes: number;
  createMs: number;
  userMs: number;
  systemMs: number;
}

const peakText = (p: Peak) =>
  `peak RSS ${mib(p.rssKiB)} MiB (anonymous ${mib(p.anonKiB)}, file-backed ${mib(p.fileKiB)})`;

/** A fresh store of `total` events: finished cycle jobs of ~100 events, 16 written at a time (interleaved). */
async function seedStore(storePath: string, total: number): Promise<number> {
  const store = await openLmdbEventStore({ path: storePath });
  let written = 0;
  const jobs = Math.ceil(total / EVENTS_PER_JOB);
  try {
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
  return written;
}

/**
 * A store of 1M events (10k finished jobs of ~100 events): `operator projections rebuild --all` beside a raw
 * readAll of the same events, then `operator events export` of the whole log and of its first tenth, whose
 * peak RSS should be about the same (constant memory).
 */
export async function rebuildExportScenario(options: ScenarioOptions): Promise<ScenarioOutput> {
  const total = options.quick ? 100_000 : 1_000_000;
  const dir = await benchDir('rebuild', { maxEventsPerJob: 1000 });
  const storePath = join(dir.dataDir, 'store');
  try {
    const t0 = performance.now();
    const written = await seedStore(storePath, total);
    const jobs = Math.ceil(total / EVENTS_PER_JOB);
    options.log(
      `seeded ${written.toLocaleString('en-US')} events in ${jobs.toLocaleString('en-US')} jobs in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );

    const reader = new NodeChild('bench/lib/readAllChild.ts', { args: ['--store', storePath] });
    const readAll = await reader.nextEvent<{ events: number; readAllMs: number }>('result', 300_000);
    await reader.exited;
    if (readAll.events !== written)
      throw new Error(`readAll returned ${readAll.events} of ${written} events`);
    const readAllRate = written / (readAll.readAllMs / 1000);
    // The rows every event adds to the read model, alone on one thread: what this table layout allows.
    const rowsOut = join(dir.dir, 'rows-only');
    const rowsChild = new NodeChild('bench/lib/readModelRowsChild.ts', {
      args: ['--store', storePath, '--out', rowsOut],
    });
    const rowsOnly = await rowsChild.nextEvent<{ events: number; rows: number; writeMs: number }>(
      'result',
      300_000,
    );
    await rowsChild.exited;
    await rm(rowsOut, { recursive: true, force: true });
    if (rowsOnly.events !== written)
      throw new Error(`the rows-only writer took ${rowsOnly.events} of ${written} events`);
    const rowsRate = written / (rowsOnly.writeMs / 1000);
    const usPerRow = (rowsOnly.writeMs * 1000) / rowsOnly.rows;

    // Two rounds from the same start, the faster reported (as the other scenarios' rounds): before the
    // second, the first's read model and job files are moved aside, not deleted (ext4 allocates inodes more
    // slowly just after tens of thousands were freed, which would slow the next round's creates).
    const rounds: { run: CliRun; result: RebuildResult }[] = [];
    for (let round = 1; round <= REBUILD_ROUNDS; round++) {
      if (round > 1) {
        const aside = join(dir.dir, `round-${round - 1}`);
        await mkdir(aside);
        await rename(join(dir.dataDir, 'readmodel'), join(aside, 'readmodel'));
        await rename(dir.runsDir, join(aside, 'runs'));
      }
      const run = await operatorCli(
        ['projections', 'rebuild', '--all', '--json', '--config', dir.configPath],
        options.serverNodeArgs,
      );
      rounds.push({ run, result: JSON.parse(run.stdout.join('\n')) as RebuildResult });
    }
    const best = rounds.reduce((a, b) => (b.result.durationMs < a.result.durationMs ? b : a));
    const { run: rebuild, result } = best;
    const roundsText = rounds.map((r) => `${(r.result.durationMs / 1000).toFixed(1)} s`).join(' / ');
    const peakAnonKiB = Math.max(...rounds.map((r) => r.run.peak.anonKiB));
    const rebuildRate = written / (result.durationMs / 1000);
    // The job files alone, made again beside the last round's (same directories, names and sizes): what the
    // file system charges for them now, which on this machine's journal-less ext4 swings with its history.
    const filesChild = new NodeChild('bench/lib/createFilesChild.ts', {
      args: ['--from', dir.runsDir, '--to', join(dir.dir, 'files-alone')],
    });
    const filesAlone = await filesChild.nextEvent<FilesAlone>('result', 300_000);
    await filesChild.exited;
    if (filesAlone.jobs !== result.jobs)
      throw new Error(`the files-alone copy made ${filesAlone.jobs} jobs' files of ${result.jobs}`);
    const filesRate = written / (filesAlone.createMs / 1000);
    // The same rebuild of a log a tenth as long: peak anonymous memory must not grow with the log.
    const smallDir = await benchDir('rebuild-small', { maxEventsPerJob: 1000 });
    let small: { written: number; run: CliRun; rate: number };
    try {
      const smallWritten = await seedStore(join(smallDir.dataDir, 'store'), total / 10);
      const run = await operatorCli([
        'projections',
        'rebuild',
        '--all',
        '--json',
        '--config',
        smallDir.configPath,
      ]);
      const smallResult = JSON.parse(run.stdout.join('\n')) as { durationMs: number };
      small = { written: smallWritten, run, rate: smallWritten / (smallResult.durationMs / 1000) };
    } finally {
      await smallDir.remove();
    }
    const memoryRatio = peakAnonKiB / small.run.peak.anonKiB;
    options.log(
      `rebuild of a tenth (${small.written.toLocaleString('en-US')} events): ${Math.round(small.rate).toLocaleString('en-US')} events/s, ${peakText(small.run.peak)}; anonymous memory ${memoryRatio.toFixed(2)}× the tenth's`,
    );
    options.log(
      `raw readAll ${(readAll.readAllMs / 1000).toFixed(1)} s (${Math.round(readAllRate).toLocaleString('en-US')} events/s); operator projections rebuild --all: ${(result.durationMs / 1000).toFixed(1)} s by its own count (${(rebuild.ms / 1000).toFixed(1)} s with process start), ${Math.round(rebuildRate).toLocaleString('en-US')} events/s, ${result.jobs} jobs, ${peakText(rebuild.peak)}; ${cpuText(rebuild.threadCpu)}`,
    );

    options.log(
      `the read model's event rows alone (one thread, transactions of 10,000 events): ${rowsOnly.rows.toLocaleString('en-US')} rows, ${(rowsOnly.rows / written).toFixed(2)} per event, in ${(rowsOnly.writeMs / 1000).toFixed(1)} s: ${usPerRow.toFixed(2)} µs per row, ${Math.round(rowsRate).toLocaleString('en-US')} events/s`,
    );

    options.log(
      `the rebuild's job files alone (${filesAlone.dirs.toLocaleString('en-US')} directories, ${filesAlone.files.toLocaleString('en-US')} files, ${mib(filesAlone.bytes / 1024)} MiB, made again beside it): ${(filesAlone.createMs / 1000).toFixed(1)} s, CPU ${(filesAlone.userMs / 1000).toFixed(1)} s user, ${(filesAlone.systemMs / 1000).toFixed(1)} s kernel`,
    );

    const exportRun = async (name: string, to: number | null) => {
      const out = join(dir.dir, name);
      const run = await operatorCli([
        'events',
        'export',
        '--config',
        dir.configPath,
        '--from',
        '0',
        '--out',
        out,
        '--quiet',
        ...(to === null ? [] : ['--to', String(to)]),
      ]);
      return { ...run, lines: await countLines(out), bytes: (await stat(out)).size };
    };
    const full = await exportRun('export-full.ndjson', null);
    const tenth = await exportRun('export-tenth.ndjson', Math.floor(written / 10) - 1);
    if (full.lines !== written) throw new Error(`export wrote ${full.lines} lines for ${written} events`);
    // Memory that grew with the export: an exporter holding events would grow by at least an event each.
    const growthPerEvent = ((full.peak.anonKiB - tenth.peak.anonKiB) * 1024) / (full.lines - tenth.lines);
    const lineBytes = full.bytes / full.lines;
    options.log(
      `operator events export: ${full.lines.toLocaleString('en-US')} lines in ${(full.ms / 1000).toFixed(1)} s, ${peakText(full.peak)}; first tenth (${tenth.lines.toLocaleString('en-US')} lines): ${peakText(tenth.peak)}`,
    );
    const sizeOf = (n: number) => (n >= 1_000_000 ? `${(n / 1e6).toFixed(0)}M` : `${(n / 1000).toFixed(0)}k`);
    const size = sizeOf(written);
    const smallSize = sizeOf(small.written);
    return {
      notes: [
        `Rebuild/export: ${written.toLocaleString('en-US')} events in ${jobs.toLocaleString('en-US')} finished jobs (cycle pipeline), written straight to a fresh store; rebuild = \`operator projections rebuild --all\` (jsonl, state/gates, read model into fresh locations, then the swap), rate from its own durationMs; baseline = raw readAll in a separate process. Export = \`operator events export --from 0 --out\`; peak RSS = getrusage ru_maxrss, split into anonymous and file-backed (LMDB's mapped pages) by sampling /proc/self/status.`,
      ],
      rows: [
        {
          scenario: `projection rebuild of ${size} events`,
          figure: rebuildRate,
          unit: 'events/s',
          baseline: readAllRate,
          baselineLabel: 'raw readAll, same events',
          target: '≥ 50,000 events/s',
          met: rebuildRate >= 50_000,
          notes: `${(result.durationMs / 1000).toFixed(1)} s for ${result.jobs.toLocaleString('en-US')} jobs' files and the read model (rounds ${roundsText}); ${peakText(rebuild.peak)}; ${cpuText(rebuild.threadCpu)}${options.quick ? ' (--quick: 100k events)' : ''}`,
        },
        {
          scenario: `projection rebuild of ${size} events vs its read model rows alone`,
          figure: rebuildRate,
          unit: 'events/s',
          baseline: rowsRate,
          baselineLabel: "the read model's event rows alone, one thread",
          target: 'reported',
          met: null,
          notes: `the baseline writes only the ${(rowsOnly.rows / written).toFixed(2)} rows per event that every event adds to the read model (\`writeEventRows\` and the batch's search postings into a fresh generation, transactions of 10,000 events, no files, fold, job rows or thread hand-off; its reading not timed): ${usPerRow.toFixed(2)} µs per row, ${(rowsOnly.writeMs / 1000).toFixed(1)} s. No rebuild writing these tables can pass that rate on this machine`,
        },
        {
          scenario: `projection rebuild of ${size} events vs its job files alone`,
          figure: rebuildRate,
          unit: 'events/s',
          baseline: filesRate,
          baselineLabel: "the rebuild's job files alone, made again beside it",
          target: 'reported',
          met: null,
          notes: `the baseline makes the ${filesAlone.dirs.toLocaleString('en-US')} directories and ${filesAlone.files.toLocaleString('en-US')} files (${mib(filesAlone.bytes / 1024)} MiB) of the rebuilt runs dir again, same names and sizes, 16 jobs at a time, nothing else: ${(filesAlone.createMs / 1000).toFixed(1)} s (CPU ${(filesAlone.userMs / 1000).toFixed(1)} s user, ${(filesAlone.systemMs / 1000).toFixed(1)} s kernel). The rebuild makes the same inodes; on this journal-less ext4 each new inode costs far more for hours after many were deleted near it (the kernel skips recently freed inodes one by one), so this figure is the file system's state at the time of the run`,
        },
        {
          scenario: `projection rebuild, peak anonymous memory, ${size} vs ${smallSize} events`,
          figure: peakAnonKiB / 1024,
          unit: 'MiB',
          baseline: small.run.peak.anonKiB / 1024,
          baselineLabel: `rebuild of ${smallSize} events`,
          target: '≤ 1.5× (flat in log size)',
          met: memoryRatio <= 1.5,
          notes: `${(written / small.written).toFixed(0)}× the events, ${memoryRatio.toFixed(2)}× the anonymous memory (heap, buffers; the larger of the two rounds); total peak RSS ${mib(rebuild.peak.rssKiB)} vs ${mib(small.run.peak.rssKiB)} MiB, the rest file-backed (LMDB's mapped pages); the smaller rebuild ran at ${Math.round(small.rate).toLocaleString('en-US')} events/s`,
        },
        {
          scenario: `export of ${size} events, peak RSS`,
          figure: full.peak.rssKiB / 1024,
          unit: 'MiB',
          baseline: tenth.peak.rssKiB / 1024,
          baselineLabel: 'export of the first tenth',
          target: 'reported; constant memory',
          met: growthPerEvent < lineBytes / 2,
          notes: `anonymous memory (heap, buffers) ${mib(full.peak.anonKiB)} MiB vs ${mib(tenth.peak.anonKiB)} MiB for a tenth: ${growthPerEvent.toFixed(0)} bytes per extra event, against ${lineBytes.toFixed(0)} bytes per exported event (constant memory = well under half an event each); file-backed ${mib(full.peak.fileKiB)} MiB = LMDB's mapped pages, reclaimable; ${(full.ms / 1000).toFixed(1)} s, ${Math.round(written / (full.ms / 1000)).toLocaleString('en-US')} events/s`,
        },
      ],
      details: {
        written,
        jobs,
        readAll,
        rowsOnly,
        filesAlone,
        rebuild: { ...rebuild, result },
        rebuildRounds: rounds.map((r) => r.result),
        rebuildSmall: small,
        export: { full, tenth },
      },
    };
  } finally {
    await dir.remove();
  }
}
