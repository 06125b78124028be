import { Command } from 'commander';
import { runRetention } from '../retention/runRetention.ts';
import { usageError } from './cliError.ts';
import type { LocalOptions } from './localContext.ts';
import { LOCAL_HELP, localConfig, withLocalOptions, withLocalStores } from './localContext.ts';
import { formatTable, printJson } from './output.ts';

interface RetentionOptions extends LocalOptions {
  dryRun?: boolean;
  now?: string;
  days?: string;
  action?: string;
  json?: boolean;
}

/** `operator retention run`: the retention sweep, on demand. */
export function retentionCommand(): Command {
  const retention = new Command('retention')
    .description(
      'retire jobs that ended more than storage.events_retention_days ago (the server also sweeps daily)',
    )
    .addHelpText('after', '\nExample:\n  $ operator retention run --dry-run');
  retention.addCommand(
    withLocalOptions(new Command('run'))
      .description(
        'sweep now: hide the events and remove (or archive) runs/<id> of jobs that ended long enough ago',
      )
      .option('--dry-run', 'list what would be swept; change nothing')
      .option('--days <n>', 'override storage.events_retention_days')
      .option('--action <delete|archive>', 'override storage.retention_action')
      .option('--now <iso>', 'sweep as of this time instead of now (a later time only with --dry-run)')
      .option('--json', 'print the result as JSON')
      .addHelpText(
        'after',
        `${LOCAL_HELP}\n\nA job's events are soft-deleted: hidden from every read, stream, export, search and rebuild; the log is\nappend-only, so their bytes stay in the store file (decision 0001). Its runs/<id> files and read model rows are\nremoved. Jobs still queued, running or paused are never touched. With retention_action: archive each job's\nfiles are packed into <runs_dir>/_archive/<id>.tar.gz before they are removed.\n\nExample:\n  $ operator retention run --dry-run\n  $ operator retention run --days 90 --action archive`,
      )
      .action(async (opts: RetentionOptions) => {
        const config = localConfig(opts);
        const days = opts.days === undefined ? config.storage.events_retention_days : Number(opts.days);
        if (!(Number.isInteger(days) && days > 0 && days <= MAX_DAYS))
          throw usageError(`--days must be a whole number of days from 1 to ${MAX_DAYS}`);
        const action = opts.action ?? config.storage.retention_action;
        if (action !== 'delete' && action !== 'archive')
          throw usageError('--action must be delete or archive');
        const now = opts.now === undefined ? new Date() : new Date(opts.now);
        if (Number.isNaN(now.getTime())) throw usageError('--now must be an ISO date-time');
        // A real sweep never runs ahead of the clock: that would retire jobs that ended moments ago.
        if (!opts.dryRun && now.getTime() > Date.now())
          throw usageError('--now later than the current time is for --dry-run only (a what-if run)');
        await withLocalStores(config, async (store, rms) => {
          const result = await runRetention({
            store,
            readModelStore: rms,
            runsDir: config.storage.runs_dir,
            retentionDays: days,
            action,
            now,
            dryRun: opts.dryRun,
          });
          if (result.failed.length > 0) process.exitCode = 1;
          if (opts.json) {
            printJson(result);
            return;
          }
          const verb = `${result.dry_run ? 'would ' : ''}${action === 'archive' ? 'archive' : 'delete'}`;
          if (result.swept.length > 0)
            process.stdout.write(
              formatTable(
                ['JOB', 'STATUS', 'FINISHED', 'ARCHIVE'],
                result.swept.map((j) => [j.job_id, j.status, j.finished_at, j.archive ?? '-']),
              ),
            );
          for (const f of result.failed) process.stdout.write(`failed: ${f.job_id}: ${f.error}\n`);
          process.stdout.write(
            `retention: ${verb} ${result.swept.length} job(s) that ended before ${result.cutoff} (${days} days); kept ${result.kept_active} not ended, ${result.kept_recent} ended since${result.failed.length ? `; ${result.failed.length} failed (named above; the next sweep retries them)` : ''}\n`,
          );
        });
      }),
  );
  return retention;
}

/** A hundred years: a cut-off further back is no policy, and past Date's range an error. */
const MAX_DAYS = 36_500;
