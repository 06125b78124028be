import { mkdir, open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/** fsync a directory, so that entries created or renamed in it survive a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** mkdir -p whose new entries are durable: each parent of a created directory is fsynced. */
export async function ensureDir(dir: string): Promise<void> {
  const firstCreated = await mkdir(dir, { recursive: true });
  if (firstCreated === undefined) return;
  const stop = dirname(firstCreated);
  for (let d = dir; ; d = dirname(d)) {
    await fsyncDir(dirname(d));
    if (dirname(d) === stop || dirname(d) === d) break;
  }
}

/**
 * Replaces `path` with `data` so that a reader (or a crash) sees either the old or the new file whole:
 * write a temp file in the same directory, fsync it, rename it over, fsync the directory. The temp name is
 * fixed, so a crash leaves at most one stale temp file, overwritten by the next write.
 */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const temp = `${path}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  await fsyncDir(dirname(path));
}
