import { execFile } from 'node:child_process';
import type { Dirent } from 'node:fs';
import { access, constants, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { mapLimit } from './mapLimit.ts';

/** coreutils' `sync`, by absolute path: the operator's PATH does not choose what runs here. */
const SYNC_BINARIES = ['/usr/bin/sync', '/bin/sync'];

/**
 * Makes everything written under `dir` durable: data, inodes and directory entries. One syncfs(2) of the
 * filesystem holding it (coreutils `sync --file-system`), instead of an fsync per file and directory: a
 * rebuild writes tens of thousands of files without syncing any and calls this once before its swap. Where
 * that command is missing or fails (not Linux, busybox, an old coreutils), every file and directory under
 * `dir` is fsynced instead.
 */
export async function syncTree(dir: string): Promise<'syncfs' | 'fsync'> {
  if (await syncFileSystemOf(dir)) return 'syncfs';
  await fsyncTree(dir);
  return 'fsync';
}

/**
 * Makes the renames and unlinks done in `dirs` (all on the filesystem holding `root`) durable: one syncfs,
 * else an fsync of each directory.
 */
export async function syncDirectories(root: string, dirs: Iterable<string>): Promise<void> {
  if (await syncFileSystemOf(root)) return;
  await mapLimit([...dirs], 16, async (dir) => {
    try {
      await fsyncPath(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  });
}

async function syncFileSystemOf(dir: string): Promise<boolean> {
  for (const binary of SYNC_BINARIES) {
    if (
      !(await access(binary, constants.X_OK).then(
        () => true,
        () => false,
      ))
    )
      continue;
    return new Promise((resolve) => {
      execFile(binary, ['--file-system', dir], { env: {}, timeout: 600_000 }, (error) => resolve(!error));
    });
  }
  return false;
}

/** fsync of every regular file and directory under `dir` (children before their directory). */
export async function fsyncTree(dir: string): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  await mapLimit(entries, 16, async (entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await fsyncTree(path);
    else if (entry.isFile()) await fsyncPath(path);
  });
  await fsyncPath(dir);
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
