/**
 * How long to wait for the reason of a failed commit. lmdb-js rejects it in the same turn as the writes, so
 * it is there at once; the bound only keeps a caller from hanging should a version of lmdb-js not reject it.
 */
const REASON_WAIT_MS = 1000;

/**
 * What lmdb-js 3 rejects every write of a failed commit with: `Error('Commit failed (see commitError for
 * details)')`, no `code`, no `cause`. LMDB's own error (ENOSPC as `code: 28`, EIO, MDB_MAP_FULL) is the
 * reason of `commitError`, a promise that lmdb-js rejects right after, once per failed commit, shared by
 * all of its writes. Nobody handles that promise unless we do: left alone, it ends the process.
 */
export interface LmdbCommitFailure extends Error {
  commitError: PromiseLike<never>;
}

export function isLmdbCommitFailure(error: unknown): error is LmdbCommitFailure {
  return (
    error instanceof Error &&
    typeof (error as { commitError?: { then?: unknown } }).commitError?.then === 'function'
  );
}

const COMMIT_FAILED = 'Commit failed';

/**
 * lmdb-js's commit failure whatever it carries: with a `commitError`, or without one (lmdb-js attaches it only
 * when LMDB's error came before the writes were rejected), so LMDB's reason cannot be had.
 */
export function isAnyLmdbCommitFailure(error: unknown): boolean {
  return (
    isLmdbCommitFailure(error) ||
    (error instanceof Error &&
      error.message.startsWith(COMMIT_FAILED) &&
      (error as { code?: unknown }).code === undefined)
  );
}

/**
 * The error LMDB gave for a failed commit (its `commitError`'s reason, marked handled); `error` itself when it
 * is not lmdb-js's commit failure, or when no reason came within a second.
 */
export async function commitFailureReason(error: unknown): Promise<unknown> {
  if (!isLmdbCommitFailure(error)) return error;
  let timer: NodeJS.Timeout | undefined;
  const reason = await Promise.race([
    Promise.resolve(error.commitError).then(
      () => error,
      (reason: unknown) => reason ?? error,
    ),
    new Promise<unknown>((resolve) => {
      timer = setTimeout(() => resolve(error), REASON_WAIT_MS);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
  return reason;
}
