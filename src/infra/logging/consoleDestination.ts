import type { DestinationStream } from 'pino';
import type { PrettyOptions } from 'pino-pretty';
import { PinoPretty } from 'pino-pretty';

import type { LogFormat } from './logFormat.ts';

/** The output a console writes to: stdout in production, a capturing stream in tests. */
export interface ConsoleOutput extends NodeJS.WritableStream {
  isTTY?: boolean;
}

export interface ConsoleDestination {
  /** What `auto` resolved to. */
  format: 'pretty' | 'json';
  /** pino's destination; undefined means pino's own (JSON lines on stdout). */
  destination: DestinationStream | undefined;
}

/**
 * Fields of the `[events]` mirror record that its message already says (`[events] <job> #<seq> <type>
 * <stage>: <message>`); a readable line leaves them out, JSON keeps them for collectors.
 */
const EVENT_FIELDS = ['job_id', 'seq', 'position', 'type', 'stage', 'status', 'actor'] as const;
const EVENTS_TAG = '[events] ';
const EVENTS_MARK = `"msg":"${EVENTS_TAG}`;

/**
 * Where the process logger writes. `json`: pino's JSON lines, for files and collectors. `pretty`: one
 * readable line per record (time, level, component, message, remaining fields), coloured when the output
 * is a terminal that supports colours. `auto`: `pretty` when the output is a TTY, else `json`.
 *
 * The pretty stream runs in-process (not a worker transport), so it works under tsx and in tests, and
 * writes synchronously, so the last lines before an exit are not lost.
 */
export function consoleDestination(
  format: LogFormat,
  output: ConsoleOutput = process.stdout,
): ConsoleDestination {
  const resolved = format === 'auto' ? (output.isTTY ? 'pretty' : 'json') : format;
  if (resolved === 'json')
    return { format: 'json', destination: output === process.stdout ? undefined : output };
  const pretty = PinoPretty(prettyOptions(output));
  return {
    format: 'pretty',
    destination: { write: (line: string) => pretty.write(withoutEventFields(line)) },
  };
}

/** pino-pretty settings for a person at a terminal. */
export function prettyOptions(output: ConsoleOutput): PrettyOptions {
  return {
    destination: output === process.stdout ? 1 : output,
    sync: true,
    colorize: colorsWanted(output),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,component',
    singleLine: true,
    messageFormat: (log, messageKey, _level, { colors }) => {
      const message = String(log[messageKey] ?? '');
      const component = log['component'];
      return typeof component === 'string' ? `${colors.magenta(`[${component}]`)} ${message}` : message;
    },
  };
}

/**
 * The `[events]` record without the fields its message already says. pino-pretty's per-key options apply
 * to every record, and a component's own `job_id` or `stage` must stay on its line, so this is decided
 * per record, before the record reaches pino-pretty.
 */
export function withoutEventFields(line: string): string {
  if (!line.includes(EVENTS_MARK)) return line;
  const record = JSON.parse(line) as Record<string, unknown>;
  if (typeof record['msg'] !== 'string' || !record['msg'].startsWith(EVENTS_TAG)) return line;
  for (const key of EVENT_FIELDS) delete record[key];
  return `${JSON.stringify(record)}\n`;
}

/** Colours on a terminal that has them: `NO_COLOR` turns them off, `FORCE_COLOR` on, `TERM=dumb` has none. */
function colorsWanted(output: ConsoleOutput, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  if (env['FORCE_COLOR'] !== undefined && env['FORCE_COLOR'] !== '0') return true;
  return output.isTTY === true && env['TERM'] !== 'dumb';
}
