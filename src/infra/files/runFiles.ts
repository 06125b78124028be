import type { Dirent } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { STORED_NAME_PATTERN } from '../../domain/events.ts';

/** `runs/_archive/`: retention's tarballs. Not a job, although the name would pass as a job id. */
export const ARCHIVE_DIR = '_archive';

/** The job directories under a runs dir: names that are job ids (dot-dirs and `_archive` excluded). */
export async function listJobDirs(runsDir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(runsDir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return entries
    .filter((e) => e.isDirectory() && e.name !== ARCHIVE_DIR && STORED_NAME_PATTERN.test(e.name))
    .map((e) => e.name)
    .sort();
}

/** File names in a directory ending with `suffix` (none when it does not exist). */
export async function listFiles(dir: string, suffix: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isFile() && e.name.endsWith(suffix))
      .map((e) => e.name)
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** fsync a directory so that renames and unlinks in it survive a crash; a missing directory is skipped. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(dir, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
