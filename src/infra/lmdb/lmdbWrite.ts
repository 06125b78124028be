import { StorageFullError } from '../eventstore/storeErrors.ts';
import { isStorageFullFailure } from '../files/storageFull.ts';
import { commitFailureReason } from './commitFailure.ts';
import { assertRoom, isMarkedFull, markFull } from './fullDiskBreaker.ts';

/**
 * Runs and awaits an asynchronous lmdb-js write (`put`, `remove`, `transaction`, `childTransaction`) on
 * `db`. A commit refused for want of space rejects with `StorageFullError` (its cause what LMDB said), any
 * other failed commit with LMDB's own error instead of lmdb-js's "Commit failed" wrapper; either way
 * lmdb-js's `commitError` promise is handled, so it cannot end the process. Other errors pass unchanged.
 * After a refusal for space, writes wait out the full disk in `assertRoom` (see `fullDiskBreaker.ts`).
 */
export async function lmdbWrite<T>(db: object, write: () => PromiseLike<T>): Promise<T> {
  const path = envPath(db);
  if (path !== undefined && isMarkedFull(path)) await assertRoom(path);
  try {
    return await write();
  } catch (error) {
    const reason = await commitFailureReason(error);
    const full = reason instanceof StorageFullError || (await isStorageFullFailure(reason, path));
    if (!full) throw reason;
    if (path !== undefined) markFull(path);
    throw reason instanceof StorageFullError ? reason : new StorageFullError(reason);
  }
}

/** The path of `db`'s environment: lmdb-js sets `path` on every database of an env (its types do not say). */
export function envPath(db: object): string | undefined {
  const path = (db as { path?: unknown }).path;
  return typeof path === 'string' ? path : undefined;
}

/** `db.transaction(action)` through `lmdbWrite`: an asynchronous write transaction of lmdb-js. */
export function lmdbTransaction<T>(
  db: { transaction<R>(action: () => R): Promise<R> },
  action: () => T,
): Promise<T> {
  return lmdbWrite(db, () => db.transaction(action));
}
