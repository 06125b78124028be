// `npm run bench [-- --quick] [-- --only sse,idle] [-- --profile]`: every headline figure of issue 7 beside
// its baseline measured in the same run. Writes bench/results/bench-<time>.json (and bench-latest.json) and
// prints a markdown table. Load goes to 127.0.0.0/8 only; every loop is bounded in count and time.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { machineInfo } from './lib/machine.ts';
import { killAllChildren, REPO_ROOT, WANTED_NOFILE } from './lib/nodeChild.ts';
import type { Report, ResultRow } from './lib/report.ts';
import { markdownReport, writeResults } from './lib/report.ts';
import type { Scenario } from './lib/scenario.ts';
import { appendsScenario } from './scenarios/appends.ts';
import { catchUpScenario } from './scenarios/catchUp.ts';
import { globalStreamScenario } from './scenarios/globalStream.ts';
import { idleConnectionsScenario } from './scenarios/idleConnections.ts';
import { pollingScenario } from './scenarios/polling.ts';
import { rebuildExportScenario } from './scenarios/rebuildExport.ts';
import { sseFanoutScenario } from './scenarios/sseFanout.ts';
import { stageLogsScenario } from './scenarios/stageLogs.ts';

const SCENARIOS: Record<string, Scenario> = {
  appends: appendsScenario,
  sse: sseFanoutScenario,
  idle: idleConnectionsScenario,
  catchup: catchUpScenario,
  polling: pollingScenario,
  rebuild: rebuildExportScenario,
  logs: stageLogsScenario,
  global: globalStreamScenario,
};

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
  },
});
const names = values.only ? values.only.split(',').map((s) => s.trim()) : Object.keys(SCENARIOS);
for (const name of names)
  if (!SCENARIOS[name])
    throw new Error(`unknown scenario ${name}; known: ${Object.keys(SCENARIOS).join(', ')}`);

// The whole run must stay bounded even if a child hangs.
const watchdog = setTimeout(() => {
  console.error('bench: still running after 20 minutes; giving up');
  process.exit(1);
}, 20 * 60_000);
watchdog.unref();

/** Load of the shared machine: other people's work makes the absolute numbers noisy. */
function machineLoad(): string {
  const [one, five] = loadavg();
  let pressure = '';
  try {
    const some = /some avg10=([\d.]+) avg60=([\d.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    if (some) pressure = `, CPU pressure (some) avg60 ${some[2]}%`;
  } catch {
    // no PSI on this kernel
  }
  return `load average ${one?.toFixed(2)} (1 min), ${five?.toFixed(2)} (5 min)${pressure}`;
}

const loadAtStart = machineLoad();
const started = new Date();
const t0 = performance.now();
const profileDir = join(
  REPO_ROOT,
  'bench',
  'results',
  'profiles',
  started.toISOString().replace(/[:.]/g, '-'),
);
const report: Report = {
  title: `Benchmarks${values.quick ? ' (--quick)' : ''}`,
  command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  machine: machineInfo(),
  started: started.toISOString(),
  seconds: 0,
  preamble: [
    `Servers and the SSE load client run as child processes started through \`bash -c 'ulimit -n ${WANTED_NOFILE} || ulimit -n <hard limit>; exec node ...'\`: RLIMIT_NOFILE raised to the hard limit where ${WANTED_NOFILE} is not allowed (the limit each child got is in the JSON).`,
    'Each figure stands beside its baseline measured in the same run; the machine is shared, so ratios matter more than absolute numbers.',
  ],
  rows: [],
  details: {},
};
if (values.profile)
  report.preamble.push(
    `Profiling: CPU profiles (--cpu-prof) of the server / CLI processes and heap snapshots in ${profileDir} (summarise with \`node --import tsx bench/profileSummary.ts <dir>\`); the profiler slows what it watches.`,
  );

for (const name of names) {
  const scenario = SCENARIOS[name] as Scenario;
  const s0 = performance.now();
  console.log(`\n== ${name}`);
  try {
    const out = await scenario({
      quick: values.quick,
      serverNodeArgs: values.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, name)}`] : [],
      profileDir: values.profile ? join(profileDir, name) : null,
      log: (line) => console.log(`  ${line}`),
    });
    report.rows.push(...out.rows);
    report.preamble.push(...(out.notes ?? []));
    report.details[name] = { ...out.details, seconds: (performance.now() - s0) / 1000 };
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    console.error(`  ${name} failed: ${message}`);
    const row: ResultRow = {
      scenario: `${name}: scenario failed`,
      figure: Number.NaN,
      unit: '',
      baseline: null,
      baselineLabel: '—',
      target: 'runs to completion',
      met: false,
      notes: (error instanceof Error ? error.message : String(error)).split('\n')[0]?.slice(0, 200),
    };
    report.rows.push(row);
    report.details[name] = { error: message };
  } finally {
    const left = killAllChildren();
    if (left > 0)
      console.log(`  (killed ${left} child process${left > 1 ? 'es' : ''} the scenario left running)`);
  }
  console.log(`  (${((performance.now() - s0) / 1000).toFixed(1)} s)`);
}

report.seconds = (performance.now() - t0) / 1000;
report.preamble.push(`Machine load at start: ${loadAtStart}; at the end: ${machineLoad()}.`);
const path = await writeResults(values.quick ? 'bench-quick' : 'bench', report);
console.log(`\n${markdownReport(report)}\n\nResults: ${path}`);
process.exit(0);
