/** What went wrong, in the operator's terms. A closed set: whoever answers a client maps each kind once. */
export const ERROR_KINDS = [
  /** The input is malformed: unparsable, the wrong shape, out of range. */
  'invalid',
  /** The input is well formed but names what does not exist or is not allowed (unknown stage, bad pipeline). */
  'unprocessable',
  /** No credentials, or ones that are not recognised. */
  'unauthenticated',
  /** The caller is known but may not do this. */
  'forbidden',
  'not_found',
  /** The current state forbids it: a rule of the job, a concurrent writer, a busy lease. */
  'conflict',
  'too_large',
  /** A content type the operator does not read. */
  'unsupported_media',
  /** Over a limit on how much one caller may hold or ask; may succeed later. */
  'rate_limited',
  /** Stopped part-way on purpose (e.g. interrupted by a signal). */
  'aborted',
  /** Not the caller's fault: a broken configuration or stored data that cannot be read. */
  'internal',
  /** Not ready or going away: the store is closed or unreachable, an index is being built, shutting down. */
  'unavailable',
  /** Waited for another party that did not answer in time. */
  'timeout',
  /** Out of storage space; may succeed once space is freed. */
  'storage_full',
] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

/** One base error for everything the operator refuses: a stable string code and the kind of failure. */
export class OperatorError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly kind: ErrorKind,
    readonly details?: unknown,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A command that the job's current state does not allow (e.g. approving a gate that is not paused). */
export class DomainRuleError extends OperatorError {
  constructor(code: string, message: string, details?: unknown) {
    super(code, message, 'conflict', details);
  }
}

/** A command whose content is invalid in itself (unknown stage, bad pipeline). */
export class InvalidCommandError extends OperatorError {
  constructor(code: string, message: string, details?: unknown) {
    super(code, message, 'unprocessable', details);
  }
}

export class NotFoundError extends OperatorError {
  constructor(code: string, message: string, details?: unknown) {
    super(code, message, 'not_found', details);
  }
}

export const isOperatorError = (e: unknown): e is OperatorError => e instanceof OperatorError;
export const isDomainRuleError = (e: unknown): e is DomainRuleError => e instanceof DomainRuleError;
export const isNotFoundError = (e: unknown): e is NotFoundError => e instanceof NotFoundError;
/** An operator error of this kind, e.g. `isErrorOfKind(error, 'unavailable')`. */
export const isErrorOfKind = (e: unknown, kind: ErrorKind): e is OperatorError =>
  e instanceof OperatorError && e.kind === kind;
