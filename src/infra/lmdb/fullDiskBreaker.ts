import { dirname } from 'node:path';
import { StorageFullError } from '../eventstore/storeErrors.ts';
import { freeBytes } from '../files/freeSpace.ts';

/** Free space a filesystem needs again before LMDB writes on it are let through after a refusal. */
export const RESUME_FREE_BYTES = 1024 * 1024;

/** The directories (of LMDB envs) whose filesystem refused a write for want of space, and has not had room since. */
const full = new Set<string>();

/**
 * Every write LMDB fails for want of space is a risk to the whole process: lmdb-js 3.5 formats the failed
 * page write's details into a 100-byte heap buffer that the text can overrun (mdb.c, `last_error`), and
 * glibc then aborts the process. So after one refusal, writes to envs in the same directory are refused
 * here, without reaching LMDB, until the filesystem has `RESUME_FREE_BYTES` free again (one statfs per
 * write while refused; nothing at all otherwise): a projection retrying, or clients retrying their 507s,
 * do not hammer a full disk.
 */
export function markFull(envPath: string): void {
  full.add(dirname(envPath));
}

/** Whether writes to `envPath` wait for room (`assertRoom`); a Set lookup, for every write. */
export function isMarkedFull(envPath: string): boolean {
  return full.has(dirname(envPath));
}

/** Throws `StorageFullError` while `envPath`'s directory is marked full and its filesystem still has no room. */
export async function assertRoom(envPath: string): Promise<void> {
  const dir = dirname(envPath);
  if (!full.has(dir)) return;
  const free = await freeBytes(dir).catch(() => null);
  if (free !== null && free >= RESUME_FREE_BYTES) {
    full.delete(dir);
    return;
  }
  throw new StorageFullError(
    Object.assign(
      new Error(
        `No space left on device: ${free ?? 'unknown'} bytes free under ${dir}; LMDB writes wait for ${RESUME_FREE_BYTES}`,
      ),
      { code: 'ENOSPC' },
    ),
  );
}
