/** errno names, and LMDB's MDB_MAP_FULL (-30792), of a write refused for want of space. */
const FULL_CODES: ReadonlySet<unknown> = new Set(['ENOSPC', 'EDQUOT', -30792]);
/** lmdb-js throws a plain Error with mdb_strerror's text and a numeric code (ENOSPC as 28). */
const FULL_MESSAGE = /MDB_MAP_FULL|No space left on device|Disk quota exceeded/;
const MAX_CAUSES = 5;

/**
 * True when `error`, or one of its causes, says the storage is full: the filesystem (ENOSPC), the user's
 * quota (EDQUOT) or LMDB's map (MDB_MAP_FULL). Such a write may succeed later, once space is freed: callers
 * answer 507 or back off, rather than treat it as a fault of the request.
 */
export function isStorageFullError(error: unknown): boolean {
  let current = error;
  for (let depth = 0; current instanceof Error && depth <= MAX_CAUSES; depth++) {
    if (FULL_CODES.has((current as NodeJS.ErrnoException).code) || FULL_MESSAGE.test(current.message))
      return true;
    current = current.cause;
  }
  return false;
}
