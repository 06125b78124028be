// `operator events export` in constant memory: seeds a store with 1,000,000 events (10,000 finished jobs of
// 100 events), then runs the real CLI export of its first tenth and of the whole log, each in its own
// process, and reports the peak RSS of both (total, anonymous, file-backed). Constant memory means the
// anonymous peak (heap, buffers) does not grow with the number of events; the file-backed part is LMDB's
// mapped pages, which the kernel reclaims at will.
// Run: node --import tsx bench/export.ts [--events 1000000] [--out bench/results/export.json]

import { createReadStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { openLmdbEventStore } from '../src/infra/eventstore/lmdb/index.ts';
import { benchDir } from './lib/benchConfig.ts';
import { seedCycleJob } from './lib/cycleJob.ts';
import { NodeChild } from './lib/nodeChild.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    out: { type: 'string', default: 'bench/results/export.json' },
  },
});
const total = Number(values.events);
const EVENTS_PER_JOB = 100;
const mib = (kib: number) => Math.round(kib / 1024);

interface ExportRun {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  peakRssMiB: number;
  peakAnonMiB: number;
  peakFileMiB: number;
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

async function exportRun(
  configPath: string,
  out: string,
  to: number | null,
  nodeArgs: readonly string[] = [],
): Promise<ExportRun> {
  let peak = { rss: 0, anon: 0, file: 0 };
  const started = performance.now();
  const child = new NodeChild('src/cli/main.ts', {
    nodeArgs: ['--import', './bench/lib/peakRss.ts', ...nodeArgs],
    args: [
      'events',
      'export',
      '-c',
      configPath,
      '--from',
      '0',
      '--out',
      out,
      ...(to === null ? [] : ['--to', String(to)]),
    ],
    onLine: (line) => {
      const m = /^@@peak_rss_kib=(\d+) anon=(\d+) file=(\d+)/.exec(line);
      if (m) peak = { rss: Number(m[1]), anon: Number(m[2]), file: Number(m[3]) };
    },
  });
  const exit = await child.exited;
  const seconds = (performance.now() - started) / 1000;
  if (exit.code !== 0)
    throw new Error(`export exited with ${exit.signal ?? exit.code}: ${child.recent.slice(-5).join(' | ')}`);
  const events = await countLines(out);
  return {
    events,
    seconds,
    eventsPerSecond: Math.round(events / seconds),
    peakRssMiB: mib(peak.rss),
    peakAnonMiB: mib(peak.anon),
    peakFileMiB: mib(peak.file),
  };
}

const dir = await benchDir('export', { maxEventsPerJob: 1000 });
try {
  const seeding = performance.now();
  const store = await openLmdbEventStore({ path: join(dir.dataDir, 'store') });
  let written = 0;
  const jobs = Math.ceil(total / EVENTS_PER_JOB);
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < jobs) {
        const r = await seedCycleJob(store, `x${next++}`, EVENTS_PER_JOB, {
          finish: true,
          maxEventsPerJob: 1000,
        });
        written += r.events;
      }
    }),
  );
  await store.close();
  console.log(`seeded ${written} events in ${((performance.now() - seeding) / 1000).toFixed(1)} s`);

  const tenth = await exportRun(dir.configPath, join(dir.dir, 'tenth.ndjson'), Math.floor(written / 10) - 1);
  const full = await exportRun(dir.configPath, join(dir.dir, 'full.ndjson'), null);
  if (full.events !== written) throw new Error(`exported ${full.events} lines for ${written} events`);
  // The same export with V8's old space capped at 32 MiB: it completes only if the live heap stays small.
  const capped = await exportRun(dir.configPath, join(dir.dir, 'capped.ndjson'), null, [
    '--max-old-space-size=32',
  ]);
  if (capped.events !== written) throw new Error(`capped export wrote ${capped.events} lines`);
  for (const [name, run] of [
    ['first tenth', tenth],
    ['whole log', full],
    ['whole log, old space capped at 32 MiB', capped],
  ] as const)
    console.log(
      `${name}: ${run.events} events in ${run.seconds.toFixed(1)} s (${run.eventsPerSecond} events/s); peak RSS ${run.peakRssMiB} MiB = anonymous ${run.peakAnonMiB} MiB + file-backed (LMDB map) ${run.peakFileMiB} MiB`,
    );
  const result = {
    machine: `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, Node ${process.version}`,
    date: new Date().toISOString(),
    events: written,
    tenth,
    full,
    cappedOldSpace32MiB: capped,
    constantMemory: full.peakAnonMiB <= tenth.peakAnonMiB * 1.25 + 8,
  };
  await mkdir(dirname(values.out), { recursive: true });
  await writeFile(values.out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(
    `constant memory: ${result.constantMemory ? 'yes' : 'NO'} (anonymous peak ${full.peakAnonMiB} MiB for ${written} events vs ${tenth.peakAnonMiB} MiB for a tenth); written to ${values.out}`,
  );
} finally {
  await dir.remove();
}
