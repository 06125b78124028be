// `npm run faults [-- --short] [-- --only kill,resume]`: the fault harness of issue 7. Each scenario prints
// what it did and what it checked; a JSON report goes to bench/results/faults-<time>.json; the exit code is
// 1 when any check failed. Traffic goes to 127.0.0.1 only; every loop is bounded in count and time.
import { parseArgs } from 'node:util';
import { machineInfo, machineLine } from '../lib/machine.ts';
import { writeResults } from '../lib/report.ts';
import { runFaults } from './runFaults.ts';

const { values } = parseArgs({
  options: { short: { type: 'boolean', default: false }, only: { type: 'string' } },
});
const watchdog = setTimeout(() => {
  console.error('faults: still running after 15 minutes; giving up');
  process.exit(1);
}, 15 * 60_000);
watchdog.unref();

const started = new Date();
console.log(`# Fault harness${values.short ? ' (--short)' : ''}\n\nMachine: ${machineLine()}\n`);
const outcome = await runFaults({
  short: values.short,
  only: values.only?.split(',').map((s) => s.trim()),
  log: (line) => console.log(line),
});
console.log(`\n${outcome.table}`);
const path = await writeResults(values.short ? 'faults-short' : 'faults', {
  title: 'Fault harness',
  command: `npm run faults${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  machine: machineInfo(),
  started: started.toISOString(),
  seconds: outcome.seconds,
  preamble: [],
  rows: [],
  details: { reports: outcome.reports },
});
console.log(`\nResults: ${path}`);
process.exit(outcome.failed > 0 ? 1 : 0);
