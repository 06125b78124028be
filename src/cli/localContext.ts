import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../infra/config/configSchema.ts';
import { loadConfig } from '../infra/config/loadConfig.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { ReadModelStore } from '../projections/index.ts';
import { openStore } from '../server/openStore.ts';
import { CliError } from './cliError.ts';

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

/** The server's configuration, with the command line's directory overrides applied (same rules as `serve`). */
export function localConfig(opts: LocalOptions): Config {
  const env = { ...process.env };
  if (opts.dataDir) env['OPERATOR_DATA_DIR'] = opts.dataDir;
  if (opts.runsDir) env['OPERATOR_RUNS_DIR'] = opts.runsDir;
  return loadConfig({ path: opts.config, env });
}

/** The configured event store; for LMDB it must exist already (a typo in the data dir must not create one). */
export async function openLocalStore(config: Config): Promise<EventStore> {
  if (config.store.kind === 'lmdb') {
    const dir = join(config.storage.data_dir, 'store');
    if (!existsSync(join(dir, 'data.mdb')))
      throw new CliError(
        `no event store at ${dir}`,
        1,
        "run this on the server's machine, or point --config / --data-dir / $OPERATOR_DATA_DIR at its data dir",
      );
  }
  return openStore(config);
}

/** The read model env under `<data_dir>/readmodel` (created when missing, as the server would). */
export function openLocalReadModel(config: Config): ReadModelStore {
  return ReadModelStore.open(config.storage.data_dir);
}

/**
 * Runs `work` with the configured store and the read model open, and closes both after it, whatever it did.
 * The maintenance commands (status, verify, retention) all read or change both.
 */
export async function withLocalStores<T>(
  config: Config,
  work: (store: EventStore, readModelStore: ReadModelStore) => Promise<T>,
): Promise<T> {
  const store = await openLocalStore(config);
  const readModelStore = openLocalReadModel(config);
  try {
    return await work(store, readModelStore);
  } finally {
    await readModelStore.close();
    await store.close();
  }
}
