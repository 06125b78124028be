import { OperatorError } from '../domain/errors.ts';
import type { Config } from '../infra/config/configSchema.ts';
import type { PipelineRunner } from '../runner/index.ts';
import type { StageReaper } from '../runner/stageReaper.ts';
import { startStageReaper } from '../runner/stageReaper.ts';
import type { WebhookService } from '../webhooks/index.ts';
import type { LeaderDuty } from './storeLeaseRole.ts';

export interface LeaderDutiesOptions {
  config: Config;
  port: number;
  webhooks: WebhookService;
  /** Null when the server runs no runner (`runner: false`). */
  newRunner: (() => PipelineRunner) | null;
  /** Told the runner that runs now, or null once it stopped. */
  onRunner: (runner: PipelineRunner | null) => void;
}

/** What only the holder of the store lease runs: the pipeline runner (with its stage reaper) and the webhook sender. */
export function leaderDuties(options: LeaderDutiesOptions): LeaderDuty[] {
  const { config, webhooks, newRunner } = options;
  const duties: LeaderDuty[] = [];
  if (newRunner) {
    let current: { runner: PipelineRunner; reaper: StageReaper } | null = null;
    duties.push({
      name: 'runner',
      // A runner runs once: each term of leadership gets a new one, which recovers the stages the log says
      // are running (the last holder's, failed 'operator restarted' and retried per their policy).
      start: async () => {
        const reaper = startStageReaper({
          runsDir: config.storage.runs_dir,
          graceMs: config.pipeline.stage_kill_grace,
        });
        const runner = newRunner();
        current = { runner, reaper };
        runner.start();
        options.onRunner(runner);
      },
      // Ends the stage processes (decision 0005) before anything else may take the lease.
      stop: async () => {
        if (!current) return;
        const { runner, reaper } = current;
        await runner.stop();
        reaper.stop();
        current = null;
        options.onRunner(null);
      },
    });
  }
  duties.push({
    name: 'webhooks',
    // Every process keeps its outbox up to date from the log; the leader sends from each endpoint's
    // checkpoint in the store, so a takeover resumes where the last acknowledged delivery left off.
    start: async () => webhooks.lead(),
    stop: () => webhooks.stepDown(),
  });
  return duties;
}

/** A port in use or refused is the operator's to fix: one line that says which, not a stack trace. */
export function listenError(error: unknown, server: { host: string; port: number }): unknown {
  const where = `${server.host}:${server.port}`;
  const reasons: Record<string, [code: string, why: string]> = {
    EADDRINUSE: ['port_in_use', 'another process holds the port (set server.port, OPERATOR_PORT or --port)'],
    EACCES: ['port_not_allowed', 'this user may not bind it (ports below 1024 need privileges)'],
    EADDRNOTAVAIL: ['address_not_available', 'no interface of this machine has that address (server.host)'],
  };
  const reason = reasons[(error as NodeJS.ErrnoException).code ?? ''];
  if (!reason) return error;
  return new OperatorError(reason[0], `cannot listen on ${where}: ${reason[1]}`, 'unavailable', undefined, {
    cause: error,
  });
}
