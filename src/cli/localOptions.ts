import type { Command } from 'commander';

/** The options and help of a command that works on the server's files (its modules are in `localContext.ts`). */
export interface LocalOptions {
  config?: string;
  dataDir?: string;
  runsDir?: string;
}

export const LOCAL_HELP =
  "\nRuns on the server's machine, against its files: the event store under <data_dir>/store, the read model\n" +
  'under <data_dir>/readmodel and the job files under <runs_dir>. data_dir and runs_dir come from the config\n' +
  '(--config, $OPERATOR_CONFIG or conf/operator.yaml; storage.data_dir / storage.runs_dir), overridden by\n' +
  '$OPERATOR_DATA_DIR / $OPERATOR_RUNS_DIR and by --data-dir / --runs-dir. LMDB lets it read (and write\n' +
  'where it must) while the server runs.';

/** Adds `--config`, `--data-dir` and `--runs-dir` to a command that works on the local files. */
export function withLocalOptions(command: Command): Command {
  return command
    .option('-c, --config <path>', 'config file (default $OPERATOR_CONFIG or conf/operator.yaml)')
    .option('--data-dir <dir>', 'storage.data_dir: where the event store and read model live')
    .option('--runs-dir <dir>', 'storage.runs_dir: where the job files live');
}
