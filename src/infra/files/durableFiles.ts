import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { openPrivateFile, PRIVATE_DIR_MODE } from './privateFile.ts';

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
    handle = await open(dir, 'r');
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

/** mkdir -p (0700) whose new entries are durable: each parent of a created directory is fsynced. */
export async function ensureDir(dir: string): Promise<void> {
  for (const parent of await makeDir(dir)) await fsyncDir(parent);
}

/** mkdir -p (0700); the directories whose entries it changed (the parent of each one it created). */
async function makeDir(dir: string): Promise<string[]> {
  const firstCreated = await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (firstCreated === undefined) return [];
  const parents: string[] = [];
  const stop = dirname(firstCreated);
  for (let d = dir; ; d = dirname(d)) {
    parents.push(dirname(d));
    if (dirname(d) === stop || dirname(d) === d) break;
  }
  return parents;
}

/**
 * fsyncs a file or directory a projection wrote earlier, by name. Opened read-only, `O_NOFOLLOW` and
 * `O_NONBLOCK`: a link planted under the name since is not followed, a FIFO does not hang the open. Nothing
 * to sync (false) when the name is gone, is a link, or is something fsync does not take (a FIFO); the file
 * that was written there is then gone too, and its job's next write repairs what stands in its place.
 */
async function fsyncWritten(path: string): Promise<boolean> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') return false;
    throw error;
  }
  try {
    await handle.sync();
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EINVAL') return false;
    throw error;
  } finally {
    await handle.close();
  }
}

/**
 * How a file projection makes what it writes durable:
 * - `each`: every file and directory entry is fsynced as it is written, before the batch's checkpoint moves;
 * - `group`: they are remembered and `flush()` fsyncs each once, however many batches touched it; the
 *   checkpoint moves only after a flush (what a crash can lose is then replayed from the checkpoint);
 * - `none`: nothing is synced here (a rebuild's aside copy, synced as a whole before its swap).
 */
export type SyncMode = 'each' | 'group' | 'none';

export class FileSyncs {
  #pending = new Set<string>();

  constructor(readonly mode: SyncMode) {}

  /** mkdir -p (0700), its new entries durable as the mode says. */
  async ensureDir(dir: string): Promise<void> {
    if (this.mode === 'each') return ensureDir(dir);
    const parents = await makeDir(dir);
    if (this.mode === 'group') for (const parent of parents) this.#pending.add(parent);
  }

  /** `path` (a file or a directory) was written, through `handle` when it is still open. */
  async written(path: string, handle?: FileHandle): Promise<void> {
    if (this.mode === 'group') this.#pending.add(path);
    else if (this.mode === 'each') await (handle ? handle.sync() : fsyncDir(path));
  }

  /** `writeFileAtomic`, durable as the mode says (in `group`: the file and its directory at the flush). */
  async writeFileAtomic(path: string, data: string): Promise<void> {
    await writeFileAtomic(path, data, { sync: this.mode === 'each' });
    if (this.mode !== 'group') return;
    this.#pending.add(path);
    this.#pending.add(dirname(path));
  }

  /**
   * fsyncs every path remembered, each once (one gone since is skipped). On a failure every path stays
   * remembered for the next flush.
   */
  async flush(): Promise<void> {
    const paths = this.#pending;
    if (paths.size === 0) return;
    this.#pending = new Set();
    try {
      for (const path of paths) await fsyncWritten(path);
    } catch (error) {
      for (const path of paths) this.#pending.add(path);
      throw error;
    }
  }
}

/**
 * Replaces `path` with `data` so that a reader (or a crash) sees either the old or the new file whole:
 * write a temp file in the same directory, fsync it, rename it over, fsync the directory. With `sync: false`
 * (a rebuild's aside copy, synced as a whole later) the rename stays and both fsyncs go. The temp name is
 * fixed, so a crash leaves at most one stale temp file, replaced by the next write. The temp file is made
 * anew (0600, O_EXCL, O_NOFOLLOW): a link a stage planted under its name is removed, never written through.
 */
export async function writeFileAtomic(
  path: string,
  data: string,
  options: { sync?: boolean } = {},
): Promise<void> {
  const sync = options.sync ?? true;
  const temp = `${path}.tmp`;
  await rm(temp, { force: true });
  const handle = await openPrivateFile(temp, 'create');
  try {
    await handle.writeFile(data);
    if (sync) await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  if (sync) await fsyncDir(dirname(path));
}
