import type { Logger } from 'pino';
import { isStorageFullError } from '../infra/files/storageFull.ts';
import { commitFailureReason, isLmdbCommitFailure } from '../infra/lmdb/commitFailure.ts';

/**
 * What `operator serve` does with a promise rejection nobody handled (the listener replaces Node's default,
 * which ends the process).
 *
 * - lmdb-js's "Commit failed" error: lmdb-js drops a promise of its own for each failed commit of the writes
 *   batched in one event turn, so that rejection is never handled. The writes' own callers got the same
 *   failure (they answer 507 or retry), so it is ridden out: its `commitError` is handled here, and logged at
 *   debug for a full disk (the callers said so already), at warn otherwise.
 * - A write refused for want of space that nobody awaited: a warn line; space comes back, the process stays.
 * - Anything else is a defect: logged with its stack, and the process exits 1 as Node would.
 *
 * Returns the function that removes the listener.
 */
export function guardUnhandledRejections(logger: Logger): () => void {
  const listener = unhandledRejectionListener(logger, (code) => process.exit(code));
  process.on('unhandledRejection', listener);
  return () => {
    process.off('unhandledRejection', listener);
  };
}

/** The listener `guardUnhandledRejections` installs; `exit` ends the process. */
export function unhandledRejectionListener(
  logger: Logger,
  exit: (code: number) => void,
): (reason: unknown) => void {
  return (reason: unknown): void => {
    if (isLmdbCommitFailure(reason)) {
      void commitFailureReason(reason).then((cause) => {
        const full = isStorageFullError(cause);
        logger[full ? 'debug' : 'warn'](
          { reason: cause instanceof Error ? cause.message : String(cause) },
          'storage: a write batched by lmdb-js failed to commit',
        );
      });
      return;
    }
    if (isStorageFullError(reason)) {
      logger.warn({ err: reason }, 'storage full: a write nobody awaited was refused');
      return;
    }
    logger.fatal({ err: reason }, 'unhandled promise rejection; exiting');
    exit(1);
  };
}
