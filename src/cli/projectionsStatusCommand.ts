import { Command } from 'commander';
import { projectionsStatus } from '../projections/maintenance/projectionsStatus.ts';
import type { LocalOptions } from './localContext.ts';
import { LOCAL_HELP, localConfig, withLocalOptions, withLocalStores } from './localContext.ts';
import { formatTable, printJson } from './output.ts';

/** `operator projections status`: checkpoints, lag and last errors. */
export function projectionsStatusCommand(): Command {
  return withLocalOptions(new Command('status'))
    .description('each projection: checkpoint, store head, lag in events and seconds, last error')
    .option('--json', 'print the status as JSON')
    .addHelpText(
      'after',
      `${LOCAL_HELP}\n\nThe last error is the one the serving process last hit (cleared once a batch applies again).\n\nExample:\n  $ operator projections status\n  $ operator projections status --json | jq '.projections[].lag_events'`,
    )
    .action(async (opts: LocalOptions & { json?: boolean }) => {
      const config = localConfig(opts);
      await withLocalStores(config, async (store, rms) => {
        const status = await projectionsStatus(store, rms);
        if (opts.json) {
          printJson(status);
          return;
        }
        process.stdout.write(
          formatTable(
            ['PROJECTION', 'CHECKPOINT', 'STORE HEAD', 'LAG EVENTS', 'LAG SECONDS', 'LAST ERROR'],
            status.projections.map((p) => [
              p.name,
              p.checkpoint ?? '-',
              p.store_head ?? '-',
              String(p.lag_events),
              p.lag_seconds === null ? '?' : String(p.lag_seconds),
              p.last_error ? `${p.last_error} (at ${p.last_error_at})` : '-',
            ]),
          ),
        );
        const w = status.writer;
        process.stdout.write(
          `read model generation ${status.generation}; writer: ${w ? `${w.role} pid ${w.pid} on ${w.host}` : 'none (no server is projecting)'}${status.rebuild ? `; ${status.rebuild.role} in progress (pid ${status.rebuild.pid})` : ''}\n`,
        );
      });
    });
}
