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
  const system = systemErrorLine(error);
  if (system) {
    process.stderr.write(`operator: ${system}\n`);
    return 1;
  }
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`operator: unexpected error: ${text}\n`);
  return 1;
}

/**
 * What the operating system refused (a read-only or foreign data dir, a directory where a file goes, a
 * full disk): the path and the reason are the whole story, so one line without a stack.
 */
function systemErrorLine(error: unknown): string | null {
  const e = error as NodeJS.ErrnoException | undefined;
  if (!(e instanceof Error) || typeof e.code !== 'string' || !Object.hasOwn(SYSTEM_REASONS, e.code))
    return null;
  const where = e.path ?? /'([^']+)'/.exec(e.message)?.[1];
  const reason = SYSTEM_REASONS[e.code];
  return where
    ? `${where}: ${reason} (${e.code}${e.syscall ? ` on ${e.syscall}` : ''})`
    : `${reason} (${e.message})`;
}

const SYSTEM_REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EISDIR: 'is a directory, a file was expected',
  ENOTDIR: 'a part of the path is not a directory',
  EEXIST: 'already exists',
  ENOENT: 'no such file or directory',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
};
