import { lstat, mkdir } from 'node:fs/promises';
import { relative } from 'node:path';
import { writeFileAtomic } from '../infra/files/durableFiles.ts';
import { PRIVATE_DIR_MODE, UnsafeFileError } from '../infra/files/privateFile.ts';
import type { StagePaths } from '../infra/files/runsLayout.ts';

/**
 * Readies the job's run dir for a stage attempt: `runs/<id>/`, `work/` and `logs/` exist (created 0700),
 * each a real directory (a stage that swapped `logs/` for a link to elsewhere would have the runner's logs
 * and pid files written there), and `params.json` holds the job's params, written whole (temp file, rename;
 * 0600) before every attempt, so a stage that edited it cannot hand the next one different params.
 */
export async function prepareStageRunDir(paths: StagePaths, paramsJson: string): Promise<void> {
  for (const dir of [paths.runDir, paths.workDir, paths.logsDir]) {
    await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
    const stats = await lstat(dir);
    if (!stats.isDirectory())
      throw new UnsafeFileError(displayName(paths, dir), 'is not a directory (a symbolic link?)');
  }
  await writeFileAtomic(paths.paramsFile, paramsJson);
}

/** A run dir file's name for messages and events: relative to the run dir, never the server's layout. */
export function displayName(paths: StagePaths, file: string): string {
  return relative(paths.runDir, file) || 'the run dir';
}
