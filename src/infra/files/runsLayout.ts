import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { OperatorError } from '../../domain/errors.ts';
import { STORED_NAME_PATTERN } from '../../domain/events.ts';

/**
 * The runs directory, in one place:
 *
 * ```
 * runs/
 *   <job_id>/
 *     events.jsonl          one canonical event per line (jsonl projection)
 *     state.json            the folded job (state projection)
 *     gates/<gate>.json     one decision file per gate (state projection)
 *     params.json           the job's params, for stage commands (runner)
 *     work/                 the stages' working directory (runner)
 *     logs/<stage>.log      every attempt's output (stage log projection)
 *     logs/<stage>.pid      the process group of the attempt in flight (runner)
 *     logs/<stage>.reaper.log  what the stage reaper did when the operator was gone
 *   _archive/<job_id>.tar.gz   retention's archives
 *   .rebuild/<job_id>/…        a rebuild's job files before the swap
 * ```
 *
 * Every name that comes from outside (job id, gate, stage) is checked against `STORED_NAME_PATTERN` before
 * it becomes part of a path.
 */
export const ARCHIVE_DIR = '_archive';
/** Inside the runs dir (same filesystem, so the swap is renames); a dot-name, so never a job id. */
export const STAGING_DIR = '.rebuild';
export const LOG_SUFFIX = '.log';
export const PID_SUFFIX = '.pid';
export const GATE_SUFFIX = '.json';

type NameKind = 'job id' | 'gate name' | 'stage name';
const DETAIL_KEY: Record<NameKind, string> = {
  'job id': 'job_id',
  'gate name': 'gate',
  'stage name': 'stage',
};

/** A job id, gate or stage name that cannot be turned into a path: it would escape or corrupt the runs dir. */
export class UnsafePathNameError extends OperatorError {
  constructor(kind: NameKind, value: string) {
    super(
      'unsafe_path_name',
      `${kind} ${JSON.stringify(value)} does not match ${STORED_NAME_PATTERN}`,
      'unprocessable',
      {
        [DETAIL_KEY[kind]]: value,
      },
    );
  }
}

export const isUnsafePathNameError = (e: unknown): e is UnsafePathNameError =>
  e instanceof UnsafePathNameError;

export function isSafeName(value: string): boolean {
  return STORED_NAME_PATTERN.test(value);
}

function checked(kind: NameKind, value: string): string {
  if (!isSafeName(value)) throw new UnsafePathNameError(kind, value);
  return value;
}

export interface RunPaths {
  /** `runs/<id>` */
  dir: string;
  /** `runs/<id>/events.jsonl` */
  events: string;
  /** `runs/<id>/state.json` */
  state: string;
  /** `runs/<id>/gates` */
  gatesDir: string;
  /** `runs/<id>/gates/<gate>.json`; throws `UnsafePathNameError` for a gate name that is not safe. */
  gate(name: string): string;
  /** `runs/<id>/logs` */
  logsDir: string;
  /** `runs/<id>/logs/<stage>.log`; throws `UnsafePathNameError` for a stage name that is not safe. */
  stageLog(stage: string): string;
}

/** The files of one job under the runs dir; the id (and every gate or stage name) is validated first. */
export function runPaths(runsDir: string, jobId: string): RunPaths {
  const dir = join(runsDir, checked('job id', jobId));
  const gatesDir = join(dir, 'gates');
  const logsDir = join(dir, 'logs');
  return {
    dir,
    events: join(dir, 'events.jsonl'),
    state: join(dir, 'state.json'),
    gatesDir,
    gate: (name) => join(gatesDir, `${checked('gate name', name)}${GATE_SUFFIX}`),
    logsDir,
    stageLog: (stage) => join(logsDir, `${checked('stage name', stage)}${LOG_SUFFIX}`),
  };
}

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

/** The files of one stage of one job, absolute; the job id and the stage name are validated first. */
export function stagePaths(runsDir: string, jobId: string, stage: string): StagePaths {
  const runDir = resolve(runPaths(runsDir, jobId).dir);
  const logsDir = join(runDir, 'logs');
  checked('stage name', stage);
  return {
    runDir,
    workDir: join(runDir, 'work'),
    paramsFile: join(runDir, 'params.json'),
    logsDir,
    log: join(logsDir, `${stage}${LOG_SUFFIX}`),
    reaperNotes: join(logsDir, `${stage}.reaper${LOG_SUFFIX}`),
    pidFile: join(logsDir, `${stage}${PID_SUFFIX}`),
  };
}

/** `runs/_archive/<id>.tar.gz`: where retention archives a job. */
export function archivePath(runsDir: string, jobId: string): string {
  return join(runsDir, ARCHIVE_DIR, `${checked('job id', jobId)}.tar.gz`);
}

/** `runs/.rebuild`: where a rebuild writes job files before the swap. */
export function stagingDir(runsDir: string): string {
  return join(runsDir, STAGING_DIR);
}

/** The job directories under a runs dir: names that are job ids (dot-dirs and `_archive` excluded). */
export async function listJobDirs(runsDir: string): Promise<string[]> {
  return (await entries(runsDir))
    .filter((e) => e.isDirectory() && e.name !== ARCHIVE_DIR && isSafeName(e.name))
    .map((e) => e.name)
    .sort();
}

/** File names in a directory ending with `suffix` (none when it does not exist). */
export async function listFiles(dir: string, suffix: string): Promise<string[]> {
  return namesIn(dir, suffix, (e) => e.isFile());
}

/**
 * Names in a directory ending with `suffix` that are not directories: plain files, and whatever a stage may
 * have put in their place (a link, a FIFO); none when the directory does not exist.
 */
export async function listNames(dir: string, suffix: string): Promise<string[]> {
  return namesIn(dir, suffix, (e) => !e.isDirectory());
}

/** Every name in a directory ending with `suffix`, directories too (none when it does not exist). */
export async function listAllNames(dir: string, suffix: string): Promise<string[]> {
  return namesIn(dir, suffix, () => true);
}

async function namesIn(dir: string, suffix: string, keep: (e: Dirent) => boolean): Promise<string[]> {
  return (await entries(dir))
    .filter((e) => e.name.endsWith(suffix) && keep(e))
    .map((e) => e.name)
    .sort();
}

async function entries(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
