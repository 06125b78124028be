import { isAbsolute, relative } from 'node:path';
import { Command } from 'commander';
import { formatDifference } from '../projections/maintenance/projectionDifference.ts';
import type { ProjectionName } from '../projections/maintenance/rebuildProjections.ts';
import { PROJECTION_NAMES } from '../projections/maintenance/rebuildProjections.ts';
import { verifyProjections } from '../projections/maintenance/verifyProjections.ts';
import { usageError } from './cliError.ts';
import type { LocalOptions } from './localContext.ts';
import { LOCAL_HELP, localConfig, withLocalOptions, withLocalStores } from './localContext.ts';
import { LineWriter, printJson } from './output.ts';

/** `operator projections verify`: recompute from the store, diff against runs/ and the read model. */
export function projectionsVerifyCommand(): Command {
  return withLocalOptions(new Command('verify'))
    .description('recompute the projections from the store and diff them against runs/ and the read model')
    .argument('[name]', `only one projection: ${PROJECTION_NAMES.join(', ')}`)
    .option('--json', 'print {jobs, events, checkpoints, differences} as JSON')
    .addHelpText(
      'after',
      `${LOCAL_HELP}\n\nPrints one line per difference — the file and line (or read model row), missing / extra / different /\nstale / unreadable, the job and seq — then a summary line; exits 1 when anything differs. Each\nprojection is checked up to its own checkpoint, so a running server does not cause false differences.\n\nExample:\n  $ operator projections verify\n  runs/j_01HX/events.jsonl:3: missing (job j_01HX, seq 2): line for seq 2 missing (found seq 3 here)\n  verify: 1 difference in 1 job (12 jobs, 140 events checked)`,
    )
    .action(async (name: string | undefined, opts: LocalOptions & { json?: boolean }) => {
      if (name !== undefined && !(PROJECTION_NAMES as readonly string[]).includes(name))
        throw usageError(
          `unknown projection ${JSON.stringify(name)} (known: ${PROJECTION_NAMES.join(', ')})`,
        );
      const names: ProjectionName[] = name === undefined ? [...PROJECTION_NAMES] : [name as ProjectionName];
      const config = localConfig(opts);
      await withLocalStores(config, async (store, rms) => {
        const report = await verifyProjections({
          store,
          readModelStore: rms,
          runsDir: config.storage.runs_dir,
          names,
        });
        if (report.differences.length > 0) process.exitCode = 1;
        if (opts.json) {
          printJson({ ok: report.differences.length === 0, ...report });
          return;
        }
        const out = new LineWriter(process.stdout);
        for (const d of report.differences) await out.write(`${formatDifference(d, displayPath)}\n`);
        const jobs = new Set(report.differences.map((d) => d.job_id)).size;
        const checked = `${report.jobs} job${report.jobs === 1 ? '' : 's'}, ${report.events} events checked: ${names.join(', ')}`;
        await out.write(
          report.differences.length === 0
            ? `verify: clean (${checked}; store head ${report.store_head ?? 'none'})\n`
            : `verify: ${report.differences.length} difference${report.differences.length === 1 ? '' : 's'} in ${jobs} job${jobs === 1 ? '' : 's'} (${checked})\n`,
        );
        await out.flush();
      });
    });
}

/** Paths under the working directory are shown relative to it. */
function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') || isAbsolute(rel) ? file : rel;
}
