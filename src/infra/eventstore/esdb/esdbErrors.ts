import {
  CancelledError,
  DeadlineExceededError,
  NotLeaderError,
  TimeoutError,
  UnavailableError,
  UnknownError,
} from '@eventstore/db-client';

/** gRPC status codes that mean "the call or the connection broke", not "the request was wrong". */
const TRANSIENT_GRPC_CODES = new Set([1, 2, 4, 8, 10, 13, 14]);

/**
 * Whether a failed read or subscription may simply be retried from where it stopped: connection loss,
 * server restart, leader change, server-side cancellation or deadline. A deleted stream, a denied access
 * or an invalid position are not: they would fail the same way again.
 */
export function isTransientError(error: unknown): boolean {
  if (
    error instanceof UnavailableError ||
    error instanceof CancelledError ||
    error instanceof DeadlineExceededError ||
    error instanceof NotLeaderError ||
    error instanceof TimeoutError ||
    error instanceof UnknownError ||
    error instanceof LiveFeedEndedError
  )
    return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' && TRANSIENT_GRPC_CODES.has(code);
}

/** The server ended a subscription call without an error (e.g. a node shutting down gracefully). */
export class LiveFeedEndedError extends Error {
  constructor() {
    super('the server ended the subscription');
  }
}
