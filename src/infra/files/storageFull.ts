import { freeBytes } from './freeSpace.ts';

/** errno names, and LMDB's MDB_MAP_FULL (-30792), of a write refused for want of space. */
const FULL_CODES: ReadonlySet<unknown> = new Set(['ENOSPC', 'EDQUOT', -30792]);
/** lmdb-js throws a plain Error with mdb_strerror's text and a numeric code (ENOSPC as 28). */
const FULL_MESSAGE = /MDB_MAP_FULL|No space left on device|Disk quota exceeded/;
const MAX_CAUSES = 5;
/** EIO, as lmdb-js gives it (a number) and as Node's fs does (a name). */
const EIO_CODES: ReadonlySet<unknown> = new Set([5, 'EIO']);
/** Under this much free space, an EIO from a write is taken for a short write on a filesystem that filled. */
const SHORT_WRITE_FREE_BYTES = 1024 * 1024;

/**
 * True when `error`, or one of its causes, says the storage is full: the filesystem (ENOSPC), the user's
 * quota (EDQUOT) or LMDB's map (MDB_MAP_FULL). Such a write may succeed later, once space is freed: callers
 * answer 507 or back off, rather than treat it as a fault of the request.
 */
export function isStorageFullError(error: unknown): boolean {
  return causes(error).some(
    (e) => FULL_CODES.has((e as NodeJS.ErrnoException).code) || FULL_MESSAGE.test(e.message),
  );
}

/**
 * `isStorageFullError`, or an EIO while the filesystem holding `path` is (nearly) out of space. LMDB answers
 * EIO when write(2) wrote only part of its pages ("short write, filesystem full?" in mdb.c): a disk that
 * fills in the middle of a commit. An EIO with space left is a disk fault, not a full disk.
 */
export async function isStorageFullFailure(error: unknown, path: string | undefined): Promise<boolean> {
  if (isStorageFullError(error)) return true;
  if (path === undefined || !causes(error).some((e) => EIO_CODES.has((e as NodeJS.ErrnoException).code)))
    return false;
  try {
    return ((await freeBytes(path)) ?? Number.POSITIVE_INFINITY) < SHORT_WRITE_FREE_BYTES;
  } catch {
    return false;
  }
}

/** `error` and its causes, outermost first. */
function causes(error: unknown): Error[] {
  const found: Error[] = [];
  let current = error;
  for (let depth = 0; current instanceof Error && depth <= MAX_CAUSES; depth++) {
    found.push(current);
    current = current.cause;
  }
  return found;
}
