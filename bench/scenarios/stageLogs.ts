import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { AUTH, benchDir } from '../lib/benchConfig.ts';
import { startBenchServer } from '../lib/children.ts';
import type { ScenarioOptions, ScenarioOutput } from '../lib/scenario.ts';
import { Samples, sleep, summarize } from '../lib/stats.ts';

const LINES_PER_SECOND = 10_000;
/** Padding that makes a printed line ~100 bytes, a typical build/test output line. */
const PAD = 'x'.repeat(48);

/**
 * The stage: after a second (followers join meanwhile) it prints `rate` lines per second for `seconds`, in
 * 10 ms ticks, each line stamped with CLOCK_MONOTONIC (`process.hrtime.bigint()`, shared by every process of
 * the machine) so a reader can tell how long the line took to reach it. It reports what it printed on stderr.
 */
const PRINTER = `
const [rate, seconds] = process.argv.slice(2).map(Number);
const perTick = Math.round(rate / 100);
let n = 0, bytes = 0;
setTimeout(() => {
  const start = process.hrtime.bigint();
  const tick = () => {
    const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    const due = Math.min(Math.round(elapsed * rate), rate * seconds);
    let out = '';
    while (n < due) out += 'line ' + (++n) + ' t=' + process.hrtime.bigint() + ' ${PAD}\\n';
    if (out) { bytes += Buffer.byteLength(out); process.stdout.write(out); }
    if (n < rate * seconds) setTimeout(tick, 10);
    else process.stderr.write('printed ' + n + ' lines, ' + bytes + ' bytes\\n');
  };
  tick();
}, 1000);
`;

interface ReaderStats {
  lines: number;
  /** Per chunk received: the delay of its oldest line (ms). */
  oldest: Samples;
  /** The end of the previous chunk, so a marker split across two chunks is counted once. */
  carry: string;
}

const LINE_MARK = ' stdout line ';
const STAMP = /t=(\d+) /;

const newStats = (): ReaderStats => ({ lines: 0, oldest: new Samples(), carry: '' });

/** Counts the stage's lines in a chunk and samples the delay of its first (oldest) stamp. */
function take(stats: ReaderStats, chunk: string, now: bigint): void {
  const stamp = STAMP.exec(chunk);
  if (stamp) stats.oldest.push(Number(now - BigInt(stamp[1] as string)) / 1e6);
  const text = stats.carry + chunk;
  for (let at = text.indexOf(LINE_MARK); at >= 0; at = text.indexOf(LINE_MARK, at + 1)) stats.lines++;
  // Shorter than the mark: no whole mark is ever counted twice.
  stats.carry = text.slice(-(LINE_MARK.length - 1));
}

/** One `?follow=1` client on raw HTTP; resolves when the server ends the stream. */
function follower(url: string, stats: ReaderStats): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { ...AUTH, accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`follow: ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => take(stats, chunk, process.hrtime.bigint()));
      res.on('end', () => resolve());
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The baseline: a bare `tail -f` of the projected file (poll every 10 ms, read what grew). */
async function tailFile(path: string, stats: ReaderStats, stop: () => boolean): Promise<void> {
  let offset = 0;
  let partial = '';
  const buffer = Buffer.alloc(1 << 20);
  for (;;) {
    const handle = await open(path, 'r').catch(() => null);
    if (handle) {
      try {
        for (;;) {
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
          if (bytesRead === 0) break;
          offset += bytesRead;
          const text = partial + buffer.toString('utf8', 0, bytesRead);
          const cut = text.lastIndexOf('\n') + 1;
          partial = text.slice(cut);
          const whole = text.slice(0, cut);
          take(stats, whole, process.hrtime.bigint());
        }
      } finally {
        await handle.close();
      }
    }
    if (stop()) return;
    await sleep(10);
  }
}

async function post(url: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...AUTH, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

/**
 * Issue 18: one stage printing 10,000 lines/s, its log followed by 100 clients over SSE (the store's log
 * streams, one live subscription in the server fanned out to every follower), against a bare tail reader of
 * the projected file in the same run; and how many bytes the store takes per second for it.
 */
export async function stageLogsScenario(options: ScenarioOptions): Promise<ScenarioOutput> {
  const followers = options.quick ? 20 : 100;
  const seconds = options.quick ? 3 : 8;
  const dir = await benchDir('logs', {
    pipelines: { logs: { stages: [{ name: 'print', run: '' }] } },
  });
  const script = join(dir.dir, 'printer.cjs');
  await writeFile(script, PRINTER);
  // The stage command is known only now (the script lives in the bench dir): set it in the config file.
  const config = parse(await readFile(dir.configPath, 'utf8')) as {
    pipelines: { logs: { stages: { run: string }[] } };
  };
  (config.pipelines.logs.stages[0] as { run: string }).run =
    `${process.execPath} ${script} ${LINES_PER_SECOND} ${seconds}`;
  await writeFile(dir.configPath, stringify(config));
  const server = await startBenchServer(dir, options.serverNodeArgs);
  try {
    const created = await post(`${server.url}/api/v1/jobs`, { pipeline: 'logs' });
    const jobId = (created['job'] as { job_id: string }).job_id;
    const logUrl = `${server.url}/api/v1/jobs/${jobId}/stages/print/log`;
    for (let i = 0; i < 200 && !(await fetch(logUrl, { headers: AUTH })).ok; i++) await sleep(10);
    const storeFile = join(dir.dataDir, 'store', 'data.mdb');
    const storeBefore = (await stat(storeFile)).size;
    const stats = Array.from({ length: followers }, newStats);
    const tail = newStats();
    let ended = false;
    const tailing = tailFile(join(dir.runsDir, jobId, 'logs', 'print.log'), tail, () => ended);
    const t0 = performance.now();
    await Promise.all(stats.map((s) => follower(`${logUrl}?follow=1`, s)));
    const wall = (performance.now() - t0) / 1000;
    await sleep(300);
    ended = true;
    await tailing;
    const logBytes = (await stat(join(dir.runsDir, jobId, 'logs', 'print.log'))).size;
    const storeGrowth = (await stat(storeFile)).size - storeBefore;
    const lines = LINES_PER_SECOND * seconds;
    const complete = stats.every((s) => s.lines === lines) && tail.lines === lines;
    const all = new Samples();
    for (const s of stats) for (const v of s.oldest.values()) all.push(v);
    const sse = summarize(all.values());
    const bare = summarize(tail.oldest.values());
    const printedBytes = lines * Buffer.byteLength(`line ${lines} t=${process.hrtime.bigint()} ${PAD}\n`);
    options.log(
      `${followers} followers, ${lines} lines each (${complete ? 'all complete' : 'INCOMPLETE'}); sse p50 ${sse.p50.toFixed(1)} p99 ${sse.p99.toFixed(1)} ms; tail p50 ${bare.p50.toFixed(1)} p99 ${bare.p99.toFixed(1)} ms`,
    );
    const deliveries = `${followers} followers × ${lines.toLocaleString('en')} lines over ${seconds} s; every follower got every line: ${complete ? 'yes' : `no (${stats.map((s) => s.lines).join('/')}, tail ${tail.lines})`}`;
    return {
      rows: [
        {
          scenario: `stage log → follower delivery p50, ${followers} followers, ${LINES_PER_SECOND.toLocaleString('en')} lines/s`,
          figure: sse.p50,
          unit: 'ms',
          baseline: bare.p50,
          baselineLabel: 'tail of the projected file (poll 10 ms)',
          target: 'reported',
          met: null,
          notes: `oldest line of each chunk received; ${deliveries}`,
        },
        {
          scenario: `stage log → follower delivery p99, ${followers} followers, ${LINES_PER_SECOND.toLocaleString('en')} lines/s`,
          figure: sse.p99,
          unit: 'ms',
          baseline: bare.p99,
          baselineLabel: 'tail of the projected file (poll 10 ms)',
          target: 'reported',
          met: null,
          notes: `max ${sse.max.toFixed(1)} ms (tail ${bare.max.toFixed(1)} ms); ${all.length} samples`,
        },
        {
          scenario: 'stage log: store bytes appended per second while the stage prints',
          figure: storeGrowth / seconds,
          unit: 'B/s',
          baseline: printedBytes / seconds,
          baselineLabel: 'bytes the stage printed per second',
          target: 'reported',
          met: null,
          notes: `the log (timestamps and source added) ${Math.round(logBytes / seconds).toLocaleString('en')} B/s; data.mdb grew ${(storeGrowth / 1048576).toFixed(1)} MiB; followers done after ${wall.toFixed(1)} s`,
        },
      ],
      details: { followers, lines, seconds, sse, tail: bare, storeGrowth, logBytes, printedBytes, complete },
    };
  } finally {
    await server.child.stop(2000);
    await dir.remove();
  }
}
