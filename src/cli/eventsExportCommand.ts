import { createWriteStream, rmSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { Command } from 'commander';
import { JOB_ID_PATTERN } from '../domain/eventNames.ts';
import { MAX_POSITION } from '../infra/eventstore/positionLimits.ts';
import { usageError } from './cliError.ts';
import { parsePosition } from './eventOptions.ts';
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
      'write to this file (via <file>.partial, renamed when complete) instead of stdout',
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
      // Each line carries prev_hash and hash (src/audit/hashChain.ts): `operator audit verify` checks them.
      if (opts.out !== undefined && (await stat(opts.out).catch(() => null))?.isDirectory())
        throw usageError(`--out ${opts.out} is a directory: name the file to write`);
      const chain = opts.chain ? new HashChain(opts.chainFrom ?? GENESIS_HASH) : null;
      const store = await openLocalStore(config);
      const partial = opts.out === undefined ? undefined : `${opts.out}.partial`;
      const file =
        partial === undefined ? undefined : createWriteStream(partial, { flags: 'w', mode: 0o600 });
      const out = new LineWriter(file ?? process.stdout);
      // Ctrl-C leaves no half file behind: only a whole export is ever renamed to --out.
      const interrupted = () => {
        if (partial) rmSync(partial, { force: true });
        process.stderr.write('operator: export interrupted; nothing written to --out\n');
        process.exit(130);
      };
      if (partial) process.once('SIGINT', interrupted);
      try {
        const summary = await exportEvents(store, { from, to, jobId: opts.job }, (line) =>
          out.write(chain ? `${chain.append(line.slice(0, -1))}\n` : line),
        );
        await out.flush();
        if (file && partial && opts.out) {
          file.end();
          await finished(file);
          await rename(partial, opts.out);
        }
        if (!opts.quiet) {
          const range = summary.first === null ? '' : ` (positions ${summary.first}..${summary.last})`;
          process.stderr.write(
            `exported ${summary.events} events${range}${opts.out ? ` to ${opts.out}` : ''}${chain ? `; chain head ${chain.head}` : ''}\n`,
          );
        }
      } catch (error) {
        file?.destroy();
        if (partial) await rm(partial, { force: true });
        throw error;
      } finally {
        process.off('SIGINT', interrupted);
        await store.close();
      }
    });
}
