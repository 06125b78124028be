import { statfs } from 'node:fs/promises';

/**
 * Bytes an unprivileged process may still write on the filesystem that holds `path` (statfs: available
 * blocks times block size, so root's reserve is not counted); null when `path` does not exist (yet).
 */
export async function freeBytes(path: string): Promise<number | null> {
  try {
    const stats = await statfs(path);
    return stats.bavail * stats.bsize;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
