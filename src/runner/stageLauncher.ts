import type { Logger } from 'pino';
import { stageDefinition } from '../domain/jobDecider.ts';
import { payloadOf } from '../domain/payloadOf.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { stagePaths } from '../infra/files/runsLayout.ts';
import type { RunnerClock } from './runnerClock.ts';
import type { RunnerCommands } from './runnerCommands.ts';
import { RUNNER } from './runnerCommands.ts';
import type { RunnerSteps } from './runnerSteps.ts';
import { stageEnvironment, stageResultCommand } from './stageCommands.ts';
import type { StageOutcome } from './stageProcess.ts';
import { StageProcess } from './stageProcess.ts';
import { stageSpawner } from './stageSpawner.ts';

/** A stage process this runner started, for the attempt the log says it runs. */
export interface RunningChild {
  jobId: string;
  stage: string;
  attempt: number;
  process: StageProcess;
}

export interface StageLauncherOptions {
  store: EventStore;
  commands: RunnerCommands;
  steps: RunnerSteps;
  clock: RunnerClock;
  logger: Logger;
  serverEnv: Readonly<Record<string, string>>;
  runsDir: string;
  killGraceMs: number;
  maxLogBytes: number;
}

/**
 * Starts a job's next stage (the `start_stage` command, then its process) and reports how the process
 * ended, one process per job. A result the store could not take is reported again later: unreported, the
 * attempt would stay running in the log with no process behind it.
 */
export class StageLauncher {
  readonly #o: StageLauncherOptions;
  readonly #children = new Map<string, RunningChild>();

  constructor(options: StageLauncherOptions) {
    this.#o = options;
    stageSpawner.warm();
  }

  child(jobId: string): RunningChild | undefined {
    return this.#children.get(jobId);
  }

  /** Tells every stage process to end (SIGTERM, SIGKILL after the grace); the list, to wait for them. */
  stopAll(reason: string): RunningChild[] {
    for (const child of this.#children.values()) child.process.stop(reason);
    return [...this.#children.values()];
  }

  async start(jobId: string, stage: string): Promise<void> {
    const { commands, steps, logger } = this.#o;
    const result = await commands.run(jobId, {
      type: 'start_stage',
      stage,
      actor: RUNNER,
      ts: commands.now(),
    });
    if (result === 'failed') return commands.later(() => steps.touch(jobId));
    if (result === 'refused') return;
    const started = result.events.find((e) => e.type === 'stage_started');
    const definition = stageDefinition(result.state, stage);
    if (!started || !definition?.run) return; // e.g. the event cap failed the job instead
    const attempt = payloadOf(started, 'stage_started').attempt ?? 1;
    const paths = stagePaths(this.#o.runsDir, jobId, stage);
    const paramsJson = JSON.stringify(result.state.params);
    let stageProcess: StageProcess;
    try {
      stageProcess = await StageProcess.start({
        jobId,
        stage,
        attempt,
        startedSeq: started.seq,
        store: this.#o.store,
        maxLogBytes: this.#o.maxLogBytes,
        run: definition.run,
        paths,
        env: stageEnvironment(this.#o.serverEnv, result.state, definition, attempt, paths, paramsJson),
        paramsJson,
        timeoutMs: definition.timeout ?? null,
        killGraceMs: this.#o.killGraceMs,
        now: () => this.#o.clock.now(),
        onLogWriteError: (error) =>
          logger.error(
            { err: error, job_id: jobId, stage, attempt },
            "runner: cannot write the stage log; the rest of this attempt's output is dropped",
          ),
      });
    } catch (error) {
      logger.error({ err: error, job_id: jobId, stage }, 'runner: cannot start a stage command');
      await this.#reportNotStarted(jobId, stage, attempt, error as Error);
      return;
    }
    const child: RunningChild = { jobId, stage, attempt, process: stageProcess };
    this.#children.set(jobId, child);
    void stageProcess.done.then((outcome) => steps.push(() => this.#finish(child, outcome)));
  }

  async #reportNotStarted(jobId: string, stage: string, attempt: number, error: Error): Promise<void> {
    const { commands, steps } = this.#o;
    const report = async (): Promise<void> => {
      const failed = await commands.run(
        jobId,
        commands.forAttempt(stage, attempt, {
          type: 'fail_stage',
          stage,
          reason: `cannot start the command: ${error.message}`,
          payload: { log: `logs/${stage}.log` },
          actor: RUNNER,
          ts: commands.now(),
        }),
      );
      // Unreported, the attempt would stay running in the log with no process behind it.
      if (failed === 'failed') commands.later(() => steps.push(report));
    };
    await report();
  }

  async #finish(child: RunningChild, outcome: StageOutcome): Promise<void> {
    const { commands, steps } = this.#o;
    if (this.#children.get(child.jobId) === child) this.#children.delete(child.jobId);
    steps.touch(child.jobId);
    if (outcome.stoppedFor !== null) return; // stopped by the runner because the log moved on: nothing to report
    const command = stageResultCommand(child.stage, outcome, commands.now());
    const result = await commands.run(child.jobId, commands.forAttempt(child.stage, child.attempt, command));
    if (result === 'failed') commands.later(() => steps.push(() => this.#finish(child, outcome)));
  }
}
