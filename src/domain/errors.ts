/** One base error for everything the operator refuses: a string code and the HTTP status it maps to. */
export class OperatorError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A command that the job's current state does not allow (e.g. approving a gate that is not paused). */
export class DomainRuleError extends OperatorError {
  constructor(code: string, message: string, details?: unknown) {
    super(code, message, 409, details);
  }
}

/** A command whose content is invalid in itself (unknown stage, bad pipeline). */
export class InvalidCommandError extends OperatorError {
  constructor(code: string, message: string, details?: unknown) {
    super(code, message, 422, details);
  }
}

export class NotFoundError extends OperatorError {
  constructor(code: string, message: string, details?: unknown) {
    super(code, message, 404, details);
  }
}

export const isOperatorError = (e: unknown): e is OperatorError => e instanceof OperatorError;
export const isDomainRuleError = (e: unknown): e is DomainRuleError => e instanceof DomainRuleError;
export const isNotFoundError = (e: unknown): e is NotFoundError => e instanceof NotFoundError;
