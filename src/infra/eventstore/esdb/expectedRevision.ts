import type { AppendExpectedRevision } from '@eventstore/db-client';
import {
  ANY,
  NO_STREAM,
  STREAM_EXISTS,
  StreamDeletedError,
  WrongExpectedVersionError,
} from '@eventstore/db-client';
import type { ExpectedRevision } from '../eventStore.ts';
import { InvalidEventStoreArgumentError, WrongExpectedRevisionError } from '../storeErrors.ts';

/** The port's expected revision as the client's: the three named states, or an exact revision as a bigint. */
export function toEsdbExpectedRevision(expected: ExpectedRevision): AppendExpectedRevision {
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    default:
      if (!Number.isSafeInteger(expected) || expected < 0)
        throw new InvalidEventStoreArgumentError(`expected revision must be a revision or a named state`, {
          expected,
        });
      return BigInt(expected);
  }
}

/**
 * The client's append failures as the port's. EventStoreDB refuses `stream_exists` on a soft-deleted
 * stream with "stream deleted" rather than a wrong expected version; to the port that stream has no
 * events, so it is a wrong expected revision with `actual: 'no_stream'`, as in the embedded store.
 */
export function toPortAppendError(error: unknown, stream: string, expected: ExpectedRevision): unknown {
  if (error instanceof WrongExpectedVersionError) {
    const actual = error.actualVersion;
    return new WrongExpectedRevisionError(
      stream,
      expected,
      typeof actual === 'bigint' && actual >= 0n ? Number(actual) : 'no_stream',
    );
  }
  if (error instanceof StreamDeletedError && expected === 'stream_exists')
    return new WrongExpectedRevisionError(stream, expected, 'no_stream');
  return error;
}
