import { constants } from 'node:fs';
import { lstat, mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { openPrivateFile, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './privateFile.ts';

/**
 * fsyncs a directory, so that the entries created, renamed or removed in it survive a crash.
 *
 * The one rule for a missing directory: it is skipped, and the answer is false. Nothing in a directory that
 * is gone can be made durable any more, and its own removal is made durable by syncing its parent, which is
 * the caller's business (a stage that removed its run dir, a swap that renamed a staged dir away). Any other
 * failure (EACCES, EIO, a file where the directory should be) is thrown.
 */
export async function fsyncDir(dir: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // O_DIRECTORY: anything else under the name fails at once (ENOTDIR), a FIFO a stage put in place of a
    // run directory included, whose plain open would wait for a writer and hold a pool thread for good.
    handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  try {
    await handle.sync();
    return true;
  } finally {
    await handle.close();
  }
}

/**
 * Makes `dir` a real directory (0700; durable with `sync`): a link a stage put at its name is removed,
 * never followed, and the directory made anew. Returns what stood there (`found`: 'a symbolic link'; null
 * when it was a directory already, or missing) and the directory's inode, by which a caller that
 * remembers it sees a directory replaced behind its back. Its parent must be real (callers check from the
 * runs dir down); a swap in the moment between this check and the write is out of scope (as for every
 * file of a run dir, docs/security.md).
 */
export async function ownDirectory(
  dir: string,
  sync: boolean,
): Promise<{ found: string | null; ino: number }> {
  const stats = await lstat(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (stats?.isDirectory()) return { found: null, ino: stats.ino };
  // A link is removed (`rm` does not follow it); anything else in the way makes the mkdir below fail, as
  // it always did: a file there is not the stage's to have put, and not ours to delete.
  const found = stats?.isSymbolicLink() ? 'a symbolic link' : null;
  if (found) await rm(dir, { force: true });
  if (sync) await ensureDir(dir);
  else await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  return { found, ino: (await lstat(dir)).ino };
}

/** mkdir -p (0700) whose new entries are durable: each parent of a created directory is fsynced. */
export async function ensureDir(dir: string): Promise<void> {
  const firstCreated = await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (firstCreated === undefined) return;
  const stop = dirname(firstCreated);
  for (let d = dir; ; d = dirname(d)) {
    await fsyncDir(dirname(d));
    if (dirname(d) === stop || dirname(d) === d) break;
  }
}

/**
 * Replaces `path` with `data` so that a reader (or a crash) sees either the old or the new file whole:
 * write a temp file in the same directory, fsync it, rename it over, fsync the directory. With `sync: false`
 * (a rebuild's aside copy, synced as a whole later) the rename stays and both fsyncs go. The temp name is
 * fixed, so a crash leaves at most one stale temp file, replaced by the next write. The temp file is made
 * anew (0600, O_EXCL, O_NOFOLLOW): a link a stage planted under its name makes the create fail, and is
 * removed, never written through.
 */
export async function writeFileAtomic(
  path: string,
  data: string,
  options: { sync?: boolean } = {},
): Promise<void> {
  const sync = options.sync ?? true;
  const temp = `${path}.tmp`;
  let handle: Awaited<ReturnType<typeof openPrivateFile>>;
  try {
    handle = await openPrivateFile(temp, 'create');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // Whatever holds the name (a temp file a crash left, a link or FIFO a stage planted) is removed, then
    // the file is made anew; in the common case the name is free and this costs nothing.
    await rm(temp, { force: true });
    handle = await openPrivateFile(temp, 'create');
  }
  try {
    await handle.writeFile(data);
    if (sync) await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  if (sync) await fsyncDir(dirname(path));
}

/**
 * For a rebuild's aside copy only, which nobody reads before its swap and a crash discards: makes `dir` a
 * new directory (0700) in a parent that exists. True when it was made (so it is a real, empty directory);
 * false when the name is taken by anything (a directory, a link a stage planted): the caller's usual checks
 * then decide. No probe before: the mkdir is the probe.
 */
export async function makeNewDirectory(dir: string): Promise<boolean> {
  try {
    await mkdir(dir, { mode: PRIVATE_DIR_MODE });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * For a rebuild's aside copy only (see `makeNewDirectory`): writes `data` to a new file (0600) in one open,
 * write and close, no temp file, no rename, no fsync. O_CREAT|O_EXCL never follows a link nor opens what is
 * there: when the name is taken (a file of this copy, a link or FIFO a stage planted), answers false and
 * writes nothing, and the caller takes its usual path.
 */
export async function writeNewFile(path: string, data: string): Promise<boolean> {
  try {
    await writeFile(path, data, { flag: 'wx', mode: PRIVATE_FILE_MODE });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}
