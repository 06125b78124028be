import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../infra/config/configSchema.ts';
import { loadConfig } from '../infra/config/loadConfig.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import type { ReadModelStore } from '../projections/index.ts';
import { CliError } from './cliError.ts';
import type { LocalOptions } from './localOptions.ts';

export type { LocalOptions } from './localOptions.ts';
export { LOCAL_HELP, withLocalOptions } from './localOptions.ts';

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
  // Loaded here, not at start: a command that talks to a server never needs the store's modules.
  const { openStore } = await import('../server/openStore.ts');
  return openStore(config);
}

/** The read model env under `<data_dir>/readmodel` (created when missing, as the server would). */
export async function openLocalReadModel(config: Config): Promise<ReadModelStore> {
  const { ReadModelStore } = await import('../projections/index.ts');
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
  const readModelStore = await openLocalReadModel(config);
  try {
    return await work(store, readModelStore);
  } finally {
    await readModelStore.close();
    await store.close();
  }
}
