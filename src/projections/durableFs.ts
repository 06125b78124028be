import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { openPrivateFile, PRIVATE_DIR_MODE } from '../infra/files/privateFile.ts';

/** fsync a directory, so that entries created or renamed in it survive a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
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
