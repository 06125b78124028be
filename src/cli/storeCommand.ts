import { Command } from 'commander';
import { backupLmdbStore, lmdbStoreStats } from '../infra/eventstore/lmdb/storeMaintenance.ts';
import { CliError } from './cliError.ts';
import type { LocalOptions } from './localContext.ts';
import { LOCAL_HELP, localConfig, withLocalOptions } from './localContext.ts';
import { printJson } from './output.ts';

/** `operator store ...`: stats and backup of the embedded (LMDB) event store. */
export function storeCommand(): Command {
  const store = new Command('store')
    .description('maintenance of the embedded event store: stats, backup')
    .addHelpText(
      'after',
      '\nExample:\n  $ operator store stats\n  $ operator store backup /backups/operator-$(date +%F)',
    );
  store.addCommand(
    withLocalOptions(new Command('stats'))
      .description('events, streams, size on disk, used and free pages')
      .option('--json', 'print the stats as JSON')
      .addHelpText(
        'after',
        `${LOCAL_HELP}\n\nExample:\n  $ operator store stats\n  $ operator store stats --json | jq .pages_free`,
      )
      .action(async (opts: LocalOptions & { json?: boolean }) => {
        const stats = await lmdbStoreStats(embeddedDataDir(opts));
        if (opts.json) {
          printJson(stats);
          return;
        }
        const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
        const lines = [
          ['store', stats.path],
          ['events', `${stats.events} (head position ${stats.head ?? 'none'})`],
          ['streams', `${stats.streams} (${stats.deleted_streams} deleted)`],
          ['size on disk', `${mib(stats.size_bytes)} (map size ${mib(stats.map_size_bytes)})`],
          [
            'pages',
            `${stats.pages_total} of ${stats.page_size} bytes: ${stats.pages_used} used, ${stats.pages_free} free`,
          ],
          ['last transaction', String(stats.last_txn_id)],
          ['readers', String(stats.readers)],
        ];
        for (const [k, v] of lines) process.stdout.write(`${(k as string).padEnd(17)}${v}\n`);
      }),
  );
  store.addCommand(
    withLocalOptions(new Command('backup'))
      .description('a consistent, compacted copy of the event store, safe while the server runs')
      .argument('<path>', 'a new (or empty) directory; it receives data.mdb')
      .option('--json', 'print the result as JSON')
      .addHelpText(
        'after',
        `${LOCAL_HELP}\n\nThe copy is one LMDB snapshot (free pages left out). The read model and runs/ files are not copied:\nthey are rebuilt from the store (\`operator projections rebuild --all\`). To restore, stop the server and\nput the copy's data.mdb in <data_dir>/store/.\n\nExample:\n  $ operator store backup /backups/operator-$(date +%F)`,
      )
      .action(async (path: string, opts: LocalOptions & { json?: boolean }) => {
        const result = await backupLmdbStore(embeddedDataDir(opts), path);
        if (opts.json) {
          printJson(result);
          return;
        }
        process.stdout.write(
          `backup written to ${result.path}/data.mdb: ${result.events} events (head position ${result.head ?? 'none'}), ${(result.bytes / 1048576).toFixed(1)} MiB\n`,
        );
      }),
  );
  return store;
}

function embeddedDataDir(opts: LocalOptions): string {
  const config = localConfig(opts);
  if (config.store.kind !== 'lmdb')
    throw new CliError(
      `store.kind is ${config.store.kind}: use EventStoreDB's own tools for stats and backups`,
    );
  return config.storage.data_dir;
}
