import { Command } from 'commander';
import type { Config } from '../infra/config/configSchema.ts';
import { backupLmdbStore, lmdbStoreStats } from '../infra/eventstore/lmdb/storeMaintenance.ts';
import { copyGeneratedKey } from '../webhooks/webhookKeyring.ts';
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
        const stats = await lmdbStoreStats(embeddedConfig(opts).storage.data_dir);
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
      .description(
        'a consistent, compacted copy of the event store, safe while the server runs, with the webhooks key',
      )
      .argument(
        '<path>',
        'an empty directory, or a new one in an existing directory; it receives data.mdb (and webhooks.key)',
      )
      .option('--json', 'print the result as JSON')
      .addHelpText(
        'after',
        `${LOCAL_HELP}\n\nThe copy is one LMDB snapshot (free pages left out). When the server generated its own key for the\nwebhook secrets sealed in the store (<data_dir>/webhooks.key: no webhooks.secret_key configured), the\nkey is copied beside it (0600): without it the restored store's webhooks registered through the API\ncannot be signed. The read model and runs/ files are not copied: they are rebuilt from the store\n(\`operator projections rebuild --all\`). To restore, stop the server, put the copy's data.mdb in\n<data_dir>/store/ and its webhooks.key, if any, in <data_dir>/.\n\nExample:\n  $ operator store backup /backups/operator-$(date +%F)`,
      )
      .action(async (path: string, opts: LocalOptions & { json?: boolean }) => {
        const config = embeddedConfig(opts);
        const result = await backupLmdbStore(config.storage.data_dir, path);
        const key = await copyGeneratedKey(config.storage.data_dir, result.path);
        if (opts.json) {
          printJson({ ...result, webhooks_key: key });
          return;
        }
        process.stdout.write(
          `backup written to ${result.path}/data.mdb: ${result.events} events (head position ${result.head ?? 'none'}), ${(result.bytes / 1048576).toFixed(1)} MiB\n`,
        );
        if (key)
          process.stdout.write(
            `webhooks key copied to ${key}: restore it into the data dir with data.mdb (the webhook secrets in the store open with it only)\n`,
          );
        else if (config.webhooks.secret_key)
          process.stdout.write(
            'webhook secrets in the store are sealed with webhooks.secret_key: keep it with the backup\n',
          );
      }),
  );
  return store;
}

function embeddedConfig(opts: LocalOptions): Config {
  const config = localConfig(opts);
  if (config.store.kind !== 'lmdb')
    throw new CliError(
      `store.kind is ${config.store.kind}: use EventStoreDB's own tools for stats and backups`,
    );
  return config;
}
