// The reaper process of `startStageReaper`: argv is <runs dir> <kill grace ms>. It waits for its stdin (a pipe
// from the operator) to close, ends the operator's stage processes that are left, and exits.
import { reapStages } from './stageReaper.ts';

const [runsDir, grace] = process.argv.slice(2);
if (!runsDir || !grace) process.exit(2);
// A terminal's Ctrl-C or hang-up is meant for the operator: the reaper sweeps once the operator has gone.
for (const signal of ['SIGINT', 'SIGHUP'] as const) process.on(signal, () => {});
process.stdin.resume();
process.stdin.on('error', () => {});
process.stdin.once('close', () => {
  reapStages(runsDir, Number(grace)).then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
