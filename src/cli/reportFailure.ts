import { CommanderError } from 'commander';
import { isOperatorError } from '../domain/errors.ts';
import { isConfigError } from '../infra/config/configError.ts';
import { isCliError } from './cliError.ts';

/** Prints a failure as `operator: <message>` (and a hint line) on stderr; returns the exit code. */
export function reportFailure(error: unknown): number {
  // Commander has printed its message (or the help) already: help asked for is 0, a usage error 2.
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
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
