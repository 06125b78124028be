import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import type { Config } from '../infra/config/configSchema.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import type { ReadModelStore } from '../projections/index.ts';
import type { RetentionResult } from './runRetention.ts';
import { runRetention } from './runRetention.ts';

export interface RetentionSweepOptions {
  config: Config;
  store: EventStore;
  readModelStore: ReadModelStore;
  logger: Logger;
  /** Where `operator_retention_*` are registered (the API's registry). */
  registry?: Registry;
  clock: () => Date;
  /** Default: a day. */
  intervalMs?: number;
  /** Delay before the first sweep after start. Default: a minute. */
  firstDelayMs?: number;
}

export interface RetentionSweep {
  /** Runs a sweep now (one at a time: a call while one runs gets that one's result). */
  runNow(): Promise<RetentionResult | null>;
  /** Cancels the schedule and waits for a sweep in progress. */
  stop(): Promise<void>;
}

/**
 * The server's daily retention sweep (`storage.events_retention_days`, `storage.retention_action`): a
 * summary goes to the log and to `/metrics` (`operator_retention_*`). A sweep that fails, or finds a
 * rebuild running, is logged and tried again at the next interval.
 */
export function scheduleRetentionSweep(options: RetentionSweepOptions): RetentionSweep {
  const { config, logger } = options;
  const registers = options.registry ? [options.registry] : [];
  const swept = new Counter({
    name: 'operator_retention_jobs_swept_total',
    help: 'jobs whose events and files the retention sweep removed or archived',
    labelNames: ['action'],
    registers,
  });
  const runs = new Counter({
    name: 'operator_retention_sweeps_total',
    help: 'retention sweeps, by outcome',
    labelNames: ['outcome'],
    registers,
  });
  const lastRun = new Gauge({
    name: 'operator_retention_last_sweep_timestamp_seconds',
    help: 'when the last retention sweep finished',
    registers,
  });
  let running: Promise<RetentionResult | null> | null = null;
  let stopped = false;

  const runNow = (): Promise<RetentionResult | null> => {
    running ??= (async () => {
      try {
        const result = await runRetention({
          store: options.store,
          readModelStore: options.readModelStore,
          runsDir: config.storage.runs_dir,
          retentionDays: config.storage.events_retention_days,
          action: config.storage.retention_action,
          now: options.clock(),
          logger,
        });
        swept.inc({ action: result.action }, result.swept.length);
        runs.inc({ outcome: result.failed.length > 0 ? 'partial' : 'ok' });
        return result;
      } catch (error) {
        runs.inc({ outcome: 'failed' });
        logger.error({ err: error }, 'retention sweep failed; retrying at the next interval');
        return null;
      } finally {
        lastRun.set(options.clock().getTime() / 1000);
        running = null;
      }
    })();
    return running;
  };

  let timer = setTimeout(function tick() {
    if (stopped) return;
    void runNow().finally(() => {
      if (!stopped) timer = setTimeout(tick, options.intervalMs ?? 86_400_000).unref();
    });
  }, options.firstDelayMs ?? 60_000).unref();

  return {
    runNow,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
