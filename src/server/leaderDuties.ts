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
