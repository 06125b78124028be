import { isOperatorError } from '../domain/errors.ts';
import { isConfigError } from '../infra/config/configError.ts';
import { isCliError } from './cliError.ts';

/** Prints a failure as `operator: <message>` (and a hint line) on stderr; returns the exit code. */
export function reportFailure(error: unknown): number {
  if (isCliError(error)) {
    process.stderr.write(`operator: ${error.message}\n${error.hint ? `  (${error.hint})\n` : ''}`);
    return error.exitCode;
  }
  if (isConfigError(error)) {
    process.stderr.write(`operator: ${error.message}\n`);
    return 2;
  }
  if (isOperatorError(error)) {
    process.stderr.write(`operator: ${error.message} [${error.code}]\n`);
    return 1;
  }
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`operator: unexpected error: ${text}\n`);
  return 1;
}
