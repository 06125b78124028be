import { join, resolve } from 'node:path';
import { OperatorError } from '../domain/errors.ts';
import { isSafeName, runPaths } from '../projections/runPaths.ts';

export interface StagePaths {
  /** `runs/<id>`, absolute: the stage's `RUN_DIR`. */
  runDir: string;
  /** `runs/<id>/work`: the working directory of every stage of the job. */
  workDir: string;
  /** `runs/<id>/params.json`: the job's params, the stage's `JOB_PARAMS_FILE`. */
  paramsFile: string;
  logsDir: string;
  /** `runs/<id>/logs/<stage>.log`: every attempt's output, one timestamped line each (a projection of the store). */
  log: string;
  /** `runs/<id>/logs/<stage>.reaper.log`: what the stage reaper did when the operator was gone. */
  reaperNotes: string;
  /** `runs/<id>/logs/<stage>.pid`: the process group of the attempt in flight, for orphan recovery. */
  pidFile: string;
}

/** The files of one stage of one job; the job id and the stage name are validated before they touch a path. */
export function stagePaths(runsDir: string, jobId: string, stage: string): StagePaths {
  const runDir = resolve(runPaths(runsDir, jobId).dir);
  if (!isSafeName(stage))
    throw new OperatorError(
      'unsafe_path_name',
      `stage name ${JSON.stringify(stage)} is not a safe name`,
      422,
      {
        stage,
      },
    );
  const logsDir = join(runDir, 'logs');
  return {
    runDir,
    workDir: join(runDir, 'work'),
    paramsFile: join(runDir, 'params.json'),
    logsDir,
    log: join(logsDir, `${stage}.log`),
    reaperNotes: join(logsDir, `${stage}.reaper.log`),
    pidFile: join(logsDir, `${stage}.pid`),
  };
}
