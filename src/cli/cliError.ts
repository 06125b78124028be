/**
 * A failure the CLI reports as one line on stderr (`operator: <message>`) and turns into the exit code.
 * Exit codes: 1 for every failure (server unreachable, refused token, drift found, ...), 2 for a bad
 * config or bad arguments, 130 when interrupted.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const isCliError = (e: unknown): e is CliError => e instanceof CliError;

/** For option parsers: a bad value is a usage error (exit 2). */
export const usageError = (message: string): CliError => new CliError(message, 2);
