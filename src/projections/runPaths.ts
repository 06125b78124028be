import { join } from 'node:path';
import { OperatorError } from '../domain/errors.ts';
import { STORED_NAME_PATTERN } from '../domain/events.ts';

/** A job id or gate name that cannot be turned into a path: it would escape or corrupt the runs dir. */
export class UnsafePathNameError extends OperatorError {
  constructor(kind: 'job id' | 'gate name', value: string) {
    super('unsafe_path_name', `${kind} ${JSON.stringify(value)} does not match ${STORED_NAME_PATTERN}`, 422, {
      [kind === 'job id' ? 'job_id' : 'gate']: value,
    });
  }
}

export const isUnsafePathNameError = (e: unknown): e is UnsafePathNameError =>
  e instanceof UnsafePathNameError;

export function isSafeName(value: string): boolean {
  return STORED_NAME_PATTERN.test(value);
}

export interface RunPaths {
  dir: string;
  events: string;
  state: string;
  gatesDir: string;
  gate(name: string): string;
}

/** The files of one job under the runs dir; the id (and every gate name) is validated first. */
export function runPaths(runsDir: string, jobId: string): RunPaths {
  if (!isSafeName(jobId)) throw new UnsafePathNameError('job id', jobId);
  const dir = join(runsDir, jobId);
  const gatesDir = join(dir, 'gates');
  return {
    dir,
    events: join(dir, 'events.jsonl'),
    state: join(dir, 'state.json'),
    gatesDir,
    gate(name: string): string {
      if (!isSafeName(name)) throw new UnsafePathNameError('gate name', name);
      return join(gatesDir, `${name}.json`);
    },
  };
}
