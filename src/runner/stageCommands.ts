import type { CompleteStage, FailStage } from '../domain/commands.ts';
import type { JobState } from '../domain/jobState.ts';
import type { StageDefinition } from '../domain/pipeline.ts';
import type { StagePaths } from './stagePaths.ts';
import type { StageOutcome } from './stageProcess.ts';

/**
 * What a stage command sees: the operator's environment, the stage's `env`, then the job's variables, last
 * so that a stage cannot shadow them (orphan recovery recognises a stage's processes by `JOB_ID` and `STAGE`).
 */
export function stageEnvironment(
  base: NodeJS.ProcessEnv,
  state: JobState,
  stage: StageDefinition,
  attempt: number,
  paths: StagePaths,
): NodeJS.ProcessEnv {
  return {
    ...base,
    ...stage.env,
    JOB_ID: state.job_id ?? '',
    STAGE: stage.name,
    STAGE_ATTEMPT: String(attempt),
    RUN_DIR: paths.runDir,
    JOB_PARAMS: JSON.stringify(state.params),
  };
}

/** The command that reports an attempt: `complete_stage` on exit 0, else `fail_stage` with the last log lines. */
export function stageResultCommand(
  stage: string,
  outcome: StageOutcome,
  ts: string,
): CompleteStage | FailStage {
  const log = `logs/${stage}.log`;
  if (outcome.ok)
    return {
      type: 'complete_stage',
      stage,
      duration_ms: outcome.durationMs,
      exit_code: 0,
      payload: { pid: outcome.pid, log },
      actor: 'runner',
      ts,
    };
  return {
    type: 'fail_stage',
    stage,
    reason: outcome.reason,
    payload: {
      pid: outcome.pid,
      exit_code: outcome.exitCode,
      signal: outcome.signal,
      timed_out: outcome.timedOut,
      log,
      log_tail: outcome.tail,
    },
    actor: 'runner',
    ts,
  };
}
