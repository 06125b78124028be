import { SingleBar } from 'cli-progress';
import { Command } from 'commander';
import type { LeaseRecord } from '../infra/leases/lmdbLeases.ts';
import type { ProjectionName, RebuildPhase } from '../projections/maintenance/rebuildProjections.ts';
import { PROJECTION_NAMES, rebuildProjections } from '../projections/maintenance/rebuildProjections.ts';
import { CliError, usageError } from './cliError.ts';
import type { LocalOptions } from './localContext.ts';
import { LOCAL_HELP, localConfig, openLocalStore, withLocalOptions } from './localContext.ts';
import { printJson } from './output.ts';

interface RebuildOptions extends LocalOptions {
  all?: boolean;
  json?: boolean;
  handoverTimeout: string;
  batchSize?: string;
}

/** `operator projections rebuild`: from position 0 into a fresh location, then an atomic swap. */
export function projectionsRebuildCommand(): Command {
  return withLocalOptions(new Command('rebuild'))
    .description('rebuild projections from position 0 into a fresh location, then swap them in atomically')
    .argument('[name]', `one projection: ${PROJECTION_NAMES.join(', ')}`)
    .option('--all', 'every projection (the default when no name is given)')
    .option(
      '--handover-timeout <seconds>',
      'how long a running server may take to pause its projections',
      '30',
    )
    .option('--batch-size <n>', 'events per applied batch')
    .option('--json', 'print the result as JSON (no progress bar)')
    .addHelpText(
      'after',
      `${LOCAL_HELP}\n\nThe live projections keep serving while the rebuild runs (job files go to <runs_dir>/.rebuild/, the read\nmodel to its inactive generation). Once caught up, a running server pauses its projections for the swap\n(a moment), the files are renamed over the live ones and the read model generation flips; readers never\nsee a half-built projection. Stage logs (runs/<id>/logs/) are rewritten from the store's log records; a log\nfile the store has no records of, and work files under runs/<id>/work/, are never touched.\n\nExample:\n  $ operator projections rebuild --all\n  $ operator projections rebuild readmodel`,
    )
    .action(async (name: string | undefined, opts: RebuildOptions) => {
      if (name !== undefined && opts.all) throw usageError('give a projection name or --all, not both');
      if (name !== undefined && !(PROJECTION_NAMES as readonly string[]).includes(name))
        throw usageError(
          `unknown projection ${JSON.stringify(name)} (known: ${PROJECTION_NAMES.join(', ')})`,
        );
      const names: ProjectionName[] = name === undefined ? [...PROJECTION_NAMES] : [name as ProjectionName];
      const handoverTimeoutMs = Number(opts.handoverTimeout) * 1000;
      if (!(handoverTimeoutMs > 0))
        throw usageError('--handover-timeout must be a positive number of seconds');
      const batchSize = opts.batchSize === undefined ? undefined : Number(opts.batchSize);
      if (batchSize !== undefined && !(Number.isInteger(batchSize) && batchSize > 0))
        throw usageError('--batch-size must be a positive integer');
      const config = localConfig(opts);
      const store = await openLocalStore(config);
      const progress = new Progress(!opts.json && process.stderr.isTTY === true);
      const controller = new AbortController();
      const interrupt = () => controller.abort();
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      try {
        const result = await rebuildProjections({
          store,
          dataDir: config.storage.data_dir,
          runsDir: config.storage.runs_dir,
          names,
          batchSize,
          handoverTimeoutMs,
          signal: controller.signal,
          onProgress: (position, head) => progress.update(position, head),
          onPhase: (phase, holder) => progress.phase(phase, holder, opts.json === true),
        });
        progress.stop();
        if (opts.json) {
          printJson(result);
          return;
        }
        const seconds = result.durationMs / 1000;
        const events = result.position === null ? 0 : Number(result.position) + 1;
        process.stdout.write(
          `rebuilt ${result.names.join(', ')} up to position ${result.position ?? '(empty store)'} in ${seconds.toFixed(1)}s (${Math.round(events / Math.max(seconds, 0.001))} events/s); ${result.jobs} job(s), ${result.changedJobs} with files replaced${result.removedJobs ? `, ${result.removedJobs} stale job(s) removed` : ''}${result.generation === null ? '' : `, read model generation ${result.generation}`}; projections paused ${result.pausedMs} ms\n`,
        );
      } catch (error) {
        progress.stop();
        if (controller.signal.aborted)
          throw new CliError('rebuild interrupted; the live projections were not touched', 130);
        throw error;
      } finally {
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
        await store.close();
      }
    });
}

/** The progress bar (cli-progress, on stderr, only on a terminal): events/s and ETA. */
class Progress {
  readonly #bar: SingleBar | undefined;
  #started = false;
  #samples: { at: number; value: number }[] = [];

  constructor(enabled: boolean) {
    this.#bar = enabled
      ? new SingleBar({
          stream: process.stderr,
          format:
            'rebuild |{bar}| {percentage}% | {value}/{total} events | {rate} events/s | ETA {eta_formatted}',
          etaBuffer: 50,
          hideCursor: true,
        })
      : undefined;
  }

  update(position: string, head: string | null): void {
    const value = Number(position) + 1;
    const total = Math.max(value, head === null ? 0 : Number(head) + 1);
    const now = Date.now();
    this.#samples.push({ at: now, value });
    while (this.#samples.length > 2 && now - (this.#samples[0] as { at: number }).at > 5000)
      this.#samples.shift();
    const first = this.#samples[0] as { at: number; value: number };
    const rate = now > first.at ? Math.round(((value - first.value) * 1000) / (now - first.at)) : 0;
    if (!this.#bar) return;
    if (!this.#started) {
      this.#bar.start(total, value, { rate });
      this.#started = true;
    } else {
      this.#bar.setTotal(total);
      this.#bar.update(value, { rate });
    }
  }

  phase(phase: RebuildPhase, holder: LeaseRecord | undefined, quiet: boolean): void {
    if (phase === 'waiting_for_writer' && !quiet) {
      this.stop();
      process.stderr.write(
        `caught up; asking the projection writer (${holder ? `${holder.role} pid ${holder.pid} on ${holder.host}` : 'a server'}) to pause for the swap\n`,
      );
    }
    if (phase === 'swapping') this.stop();
  }

  stop(): void {
    if (this.#bar && this.#started) this.#bar.stop();
    this.#started = false;
  }
}
