import { rmSync } from 'node:fs';
import { Command } from 'commander';
import { JOB_ID_PATTERN } from '../domain/eventNames.ts';
import { MAX_POSITION } from '../infra/eventstore/positionLimits.ts';
import { usageError } from './cliError.ts';
import { parsePosition } from './eventOptions.ts';
import { ExportFile } from './exportFile.ts';
import type { LocalOptions } from './localOptions.ts';
import { LOCAL_HELP, withLocalOptions } from './localOptions.ts';
import { LineWriter } from './output.ts';

interface ExportOptions extends LocalOptions {
  from: string;
  to?: string;
  job?: string;
  out?: string;
  quiet?: boolean;
  /** false with --no-chain. */
  chain: boolean;
  chainFrom?: string;
}

/** `operator events export`: NDJSON of canonical events straight from the local store. */
export function eventsExportCommand(): Command {
  return withLocalOptions(new Command('export'))
    .description(
      'export canonical events as NDJSON from the local event store, streaming (constant memory); each line is hash-chained (prev_hash, hash) for `operator audit verify`',
    )
    .requiredOption('--from <position>', 'first store position to export (inclusive); 0 for everything')
    .option('--to <position>', 'last store position to export (inclusive)')
    .option('--job <id>', "only this job's events")
    .option(
      '--out <file>',
      'write to this file instead of stdout: a new one, or a regular file it replaces once the export is complete (written beside it as <file>.<random>.partial, 0600)',
    )
    .option('-q, --quiet', 'no summary line on stderr')
    .option('--no-chain', 'plain canonical events, without the prev_hash and hash fields')
    .option(
      '--chain-from <hash>',
      'continue the chain of an earlier export: its last hash (default: 64 zeros)',
    )
    .addHelpText(
      'after',
      `${LOCAL_HELP}\n\nExample:\n  $ operator events export --from 0 --out audit.ndjson\n  $ operator audit verify audit.ndjson\n  $ operator events export --from 1200 --to 1500 --job j_01HX... | jq -c 'select(.type=="gate_approved")'`,
    )
    .action(async (opts: ExportOptions) => {
      // Loaded when an export runs: `operator events read|tail|replay` start without the store's modules.
      const [{ exportEvents }, { GENESIS_HASH, HashChain, isChainHash }, { localConfig, openLocalStore }] =
        await Promise.all([
          import('../audit/exportEvents.ts'),
          import('../audit/hashChain.ts'),
          import('./localContext.ts'),
        ]);
      const config = localConfig(opts);
      const limit = MAX_POSITION[config.store.kind];
      const from = parsePosition(opts.from, '--from', limit) as string;
      const to = parsePosition(opts.to, '--to', limit);
      if (to !== undefined && BigInt(to) < BigInt(from))
        throw usageError(`--to ${to} is before --from ${from}: the range is empty`);
      if (opts.job !== undefined && !JOB_ID_PATTERN.test(opts.job))
        throw usageError(`--job must match ${JOB_ID_PATTERN}`);
      if (opts.chainFrom !== undefined && !isChainHash(opts.chainFrom))
        throw usageError('--chain-from must be 64 lowercase hex digits (the last hash of an earlier export)');
      if (opts.out === '') throw usageError('--out must name a file (leave it out to write to stdout)');
      // Each line carries prev_hash and hash (src/audit/hashChain.ts): `operator audit verify` checks them.
      const chain = opts.chain ? new HashChain(opts.chainFrom ?? GENESIS_HASH) : null;
      const store = await openLocalStore(config);
      let file: ExportFile | null = null;
      let temp: string | null = null;
      // Ctrl-C leaves no half file behind: only a whole export is ever renamed to --out. Heard before the
      // temp file is made, so a Ctrl-C at any moment removes it.
      const interrupted = () => {
        if (temp !== null) rmSync(temp, { force: true });
        process.stderr.write('operator: export interrupted; nothing written to --out\n');
        process.exit(130);
      };
      try {
        if (opts.out !== undefined) {
          process.once('SIGINT', interrupted);
          file = await ExportFile.create(opts.out, (path) => {
            temp = path;
          });
        }
        const out = new LineWriter(file?.stream ?? process.stdout);
        const summary = await exportEvents(store, { from, to, jobId: opts.job }, (line) =>
          out.write(chain ? `${chain.append(line.slice(0, -1))}\n` : line),
        );
        await out.flush();
        await file?.commit();
        // The export is in place: a Ctrl-C from here on has nothing to remove.
        process.off('SIGINT', interrupted);
        if (!opts.quiet) {
          const range = summary.first === null ? '' : ` (positions ${summary.first}..${summary.last})`;
          process.stderr.write(
            `exported ${summary.events} events${range}${file ? ` to ${file.out}` : ''}${chain ? `; chain head ${chain.head}` : ''}\n`,
          );
        }
      } catch (error) {
        await file?.discard();
        throw error;
      } finally {
        process.off('SIGINT', interrupted);
        await store.close();
      }
    });
}
