import { homedir } from 'node:os';
import { RUNNER_ACTOR } from '../domain/actors.ts';
import type { CompleteStage, FailStage } from '../domain/commands.ts';
import type { JobState } from '../domain/jobState.ts';
import type { StageDefinition } from '../domain/pipeline.ts';
import type { StagePaths } from '../infra/files/runsLayout.ts';
import type { StageOutcome } from './stageProcess.ts';

/**
 * `JOB_PARAMS` is set only while the params' JSON is at most this many bytes; `JOB_PARAMS_FILE` always.
 * Linux refuses to start a command whose single environment string passes 128 KiB (E2BIG), and every byte
 * here is copied into each process of the stage; 8 KiB keeps scripts that read `$JOB_PARAMS` working for
 * ordinary params, far from that limit. Larger params are read from the file.
 */
export const JOB_PARAMS_ENV_MAX_BYTES = 8 * 1024;

const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';
const DEFAULT_LANG = 'C.UTF-8';

/**
 * The part of a stage's environment taken from the server's: `PATH`, `HOME` and `LANG` (defaults when the
 * server has none), plus the variables `runner.env_passthrough` names. Nothing else of the server's
 * environment (store connection strings, tokens) reaches a stage.
 */
export function serverEnvironment(
  server: NodeJS.ProcessEnv,
  passthrough: readonly string[],
): Record<string, string> {
  const env: Record<string, string> = {
    PATH: server['PATH'] || DEFAULT_PATH,
    HOME: server['HOME'] || homedir(),
    LANG: server['LANG'] || DEFAULT_LANG,
  };
  for (const name of passthrough) {
    const value = server[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/**
 * What a stage command sees: the server part (`serverEnvironment`), the stage's `env`, then the job's
 * variables, last so that a stage cannot shadow them (orphan recovery recognises a stage's processes by
 * `JOB_ID` and `STAGE`).
 */
export function stageEnvironment(
  server: Readonly<Record<string, string>>,
  state: JobState,
  stage: StageDefinition,
  attempt: number,
  paths: StagePaths,
  paramsJson: string,
): Record<string, string> {
  return {
    ...server,
    ...stage.env,
    JOB_ID: state.job_id ?? '',
    STAGE: stage.name,
    STAGE_ATTEMPT: String(attempt),
    RUN_DIR: paths.runDir,
    JOB_PARAMS_FILE: paths.paramsFile,
    ...(Buffer.byteLength(paramsJson) <= JOB_PARAMS_ENV_MAX_BYTES ? { JOB_PARAMS: paramsJson } : {}),
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
      actor: RUNNER_ACTOR,
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
    actor: RUNNER_ACTOR,
    ts,
  };
}
