import { OperatorError } from '../../domain/errors.ts';

/** One problem found in the configuration: where it came from, the key it concerns, what is wrong. */
export interface ConfigIssue {
  /** The config file as the user named it, or `env <VAR>` for a value taken from the environment. */
  source: string;
  /** Dotted key path such as `server.port` or `pipelines.demo.stages[1].gate`; empty for the whole file. */
  path: string;
  message: string;
  /** 1-based line (and column for YAML syntax errors) in the file, when known. */
  line?: number;
  column?: number;
}

/**
 * A configuration the operator refuses to start with. The message has one line per issue, each naming the
 * file (or environment variable), the key path and the problem; `details` holds the same as data.
 */
export class ConfigError extends OperatorError {
  declare readonly details: ConfigIssue[];

  constructor(issues: ConfigIssue[]) {
    super('invalid_config', issues.map(formatConfigIssue).join('\n'), 'internal', issues);
  }
}

export const isConfigError = (e: unknown): e is ConfigError => e instanceof ConfigError;

export function formatConfigIssue(issue: ConfigIssue): string {
  const where =
    issue.line === undefined
      ? ''
      : issue.column === undefined
        ? ` (line ${issue.line})`
        : ` (line ${issue.line}, column ${issue.column})`;
  const key = issue.path ? `${issue.path}: ` : '';
  return `${issue.source}: ${key}${issue.message}${where}`;
}
