import { OperatorError } from '../../domain/errors.ts';
import type { ExpectedRevision } from './eventStore.ts';

/** The stream is not at the revision the writer expected. */
export class WrongExpectedRevisionError extends OperatorError {
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    readonly actual: number | 'no_stream',
  ) {
    super(
      'wrong_expected_revision',
      `stream ${stream}: expected revision ${String(expected)}, actual ${String(actual)}`,
      'conflict',
      { stream, expected: String(expected), actual: String(actual) },
    );
  }
}

/** Any call on a store after `close()`. */
export class EventStoreClosedError extends OperatorError {
  constructor() {
    super('event_store_closed', 'the event store is closed', 'unavailable');
  }
}

/** The store could not be reached (a server-backed store when it is opened). */
export class EventStoreUnavailableError extends OperatorError {
  constructor(message: string, details?: unknown) {
    super('event_store_unavailable', message, 'unavailable', details);
  }
}

/** A malformed stream name, position, revision, option or event given to the store. */
export class InvalidEventStoreArgumentError extends OperatorError {
  constructor(message: string, details?: unknown) {
    super('invalid_event_store_argument', message, 'invalid', details);
  }
}

/**
 * A write refused for want of space (full disk, quota, LMDB's map); nothing was written. It may succeed once
 * space is freed. The refusal the adapter got is the `cause`.
 */
export class StorageFullError extends OperatorError {
  constructor(cause: unknown) {
    super(
      'insufficient_storage',
      'the server is out of storage space: try again later',
      'storage_full',
      undefined,
      {
        cause,
      },
    );
  }
}

export const isWrongExpectedRevisionError = (e: unknown): e is WrongExpectedRevisionError =>
  e instanceof WrongExpectedRevisionError;
export const isEventStoreClosedError = (e: unknown): e is EventStoreClosedError =>
  e instanceof EventStoreClosedError;
