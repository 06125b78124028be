import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Document } from 'yaml';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import type { PipelineDefinition } from '../../domain/pipeline.ts';
import { DEFAULT_ADMIN_TOKEN } from './authConfig.ts';
import type { ConfigIssue } from './configError.ts';
import { ConfigError } from './configError.ts';
import { configErrorMap, formatKeyPath, knownKeysAt, unknownKeyMessage } from './configIssues.ts';
import type { Config } from './configSchema.ts';
import { configSchema } from './configSchema.ts';

export { ConfigError, isConfigError } from './configError.ts';

export const DEFAULT_CONFIG_PATH = 'conf/operator.yaml';

export interface LoadConfigOptions {
  /** Config file; wins over `OPERATOR_CONFIG`. Relative paths are taken from `cwd`. */
  path?: string;
  /** Where overrides are read from; `process.env` when omitted. */
  env?: NodeJS.ProcessEnv;
  /** Base for relative paths (the config file, `storage.data_dir`, `storage.runs_dir`); `process.cwd()` when omitted. */
  cwd?: string;
}

type EnvKind = 'number' | 'string';

/** Environment variables that override config keys, applied before validation so they are checked too. */
export const ENV_OVERRIDES: readonly { env: string; path: readonly string[]; kind: EnvKind }[] = [
  { env: 'OPERATOR_PORT', path: ['server', 'port'], kind: 'number' },
  { env: 'OPERATOR_HOST', path: ['server', 'host'], kind: 'string' },
  { env: 'OPERATOR_LOG_LEVEL', path: ['server', 'log_level'], kind: 'string' },
  { env: 'OPERATOR_LOG_FORMAT', path: ['server', 'log_format'], kind: 'string' },
  { env: 'OPERATOR_DATA_DIR', path: ['storage', 'data_dir'], kind: 'string' },
  { env: 'OPERATOR_RUNS_DIR', path: ['storage', 'runs_dir'], kind: 'string' },
  { env: 'OPERATOR_LANES', path: ['pipeline', 'lanes'], kind: 'number' },
  { env: 'OPERATOR_STORE', path: ['store', 'kind'], kind: 'string' },
  { env: 'EVENTSTORE_CONNECTION_STRING', path: ['store', 'connection_string'], kind: 'string' },
  { env: 'OPERATOR_HEARTBEAT_SECONDS', path: ['streaming', 'heartbeat_seconds'], kind: 'number' },
  { env: 'OPERATOR_WEBHOOK_KEY', path: ['webhooks', 'secret_key'], kind: 'string' },
];

/**
 * Reads, overrides and validates the configuration, once, at start. The file is
 * `path ?? env.OPERATOR_CONFIG ?? conf/operator.yaml`; only the default file may be absent (then the
 * built-in defaults apply). Empty environment values count as unset. Storage directories come back absolute.
 *
 * @throws ConfigError listing every problem, one line each, naming the file or variable and the key.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const given = options.path ?? nonEmpty(env['OPERATOR_CONFIG']);
  const display = given ?? DEFAULT_CONFIG_PATH;
  const file = resolve(cwd, display);

  const text = readConfigText(file, display, given !== undefined);
  const { raw, doc, lineCounter } =
    text === undefined ? { raw: {}, doc: undefined, lineCounter: undefined } : parseYaml(text, display);

  const fromEnv = applyEnvOverrides(raw, env);
  applyTokenSources(raw, env, cwd, fromEnv);
  const result = configSchema.safeParse(raw, { error: configErrorMap });
  if (!result.success) {
    const locate = (path: readonly PropertyKey[]) =>
      doc && lineCounter ? lineOf(doc, lineCounter, path) : undefined;
    throw new ConfigError(
      result.error.issues.flatMap((issue) => toConfigIssues(issue, display, fromEnv, locate)),
    );
  }
  const config = result.data;
  return {
    ...config,
    storage: {
      ...config.storage,
      data_dir: resolve(cwd, config.storage.data_dir),
      runs_dir: resolve(cwd, config.storage.runs_dir),
    },
  };
}

/** The domain's view of a configured pipeline, or `undefined` when `name` is not configured. */
export function pipelineDefinition(config: Config, name: string): PipelineDefinition | undefined {
  if (!Object.hasOwn(config.pipelines, name)) return undefined;
  const entry = config.pipelines[name];
  return entry ? { name, stages: entry.stages } : undefined;
}

/** True while the seed admin token is still configured: the server warns about it at start. */
export function usesDefaultToken(config: Config): boolean {
  return config.auth.tokens.some((t) => t.token === DEFAULT_ADMIN_TOKEN);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function readConfigText(file: string, display: string, explicit: boolean): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return undefined;
    const problem =
      code === 'ENOENT' ? `file not found (looked at ${file})` : `cannot read: ${(error as Error).message}`;
    throw new ConfigError([{ source: display, path: '', message: problem }]);
  }
}

function parseYaml(text: string, display: string) {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0)
    throw new ConfigError(
      doc.errors.map((e) => ({
        source: display,
        path: '',
        message: `YAML syntax error: ${firstSentence(e.message)}`,
        line: e.linePos?.[0].line,
        column: e.linePos?.[0].col,
      })),
    );
  const value: unknown = doc.toJS();
  const raw = value === null || value === undefined ? {} : value;
  // A section whose keys are all commented out parses as null; treat it as absent so its defaults apply.
  if (isPlainObject(raw)) for (const [k, v] of Object.entries(raw)) if (v === null) delete raw[k];
  return { raw, doc, lineCounter };
}

/** yaml's pretty messages repeat the position and quote the source; keep only the statement. */
function firstSentence(message: string): string {
  const match = /^(.*?) at line \d+, column \d+/s.exec(message);
  return (match?.[1] ?? message.split('\n')[0] ?? message).trim();
}

/** Writes the set environment overrides into `raw`; returns which key path came from which variable. */
function applyEnvOverrides(raw: unknown, env: NodeJS.ProcessEnv): Map<string, string> {
  const fromEnv = new Map<string, string>();
  if (!isPlainObject(raw)) return fromEnv;
  for (const { env: name, path, kind } of ENV_OVERRIDES) {
    const value = nonEmpty(env[name]);
    if (value === undefined) continue;
    if (setIn(raw, path, kind === 'number' ? toNumberIfNumeric(value) : value))
      fromEnv.set(formatKeyPath(path), name);
  }
  return fromEnv;
}

/**
 * Tokens that a container or a service manager passes in, so none is baked into an image or a config file:
 * `OPERATOR_TOKENS_FILE` (a YAML or JSON list of `{name, token, role}`, or `{tokens: [...]}`) replaces
 * `auth.tokens`; `OPERATOR_ADMIN_TOKEN` then becomes the token named `admin` (role admin), replacing the
 * seed token and any other entry of that name.
 */
function applyTokenSources(
  raw: unknown,
  env: NodeJS.ProcessEnv,
  cwd: string,
  fromEnv: Map<string, string>,
): void {
  if (!isPlainObject(raw)) return;
  const file = nonEmpty(env['OPERATOR_TOKENS_FILE']);
  const admin = nonEmpty(env['OPERATOR_ADMIN_TOKEN']);
  if (file === undefined && admin === undefined) return;
  const auth = isPlainObject(raw['auth']) ? raw['auth'] : {};
  raw['auth'] = auth;
  if (file !== undefined) {
    auth['tokens'] = readTokensFile(resolve(cwd, file), file);
    fromEnv.set('auth.tokens', 'OPERATOR_TOKENS_FILE');
  }
  if (admin !== undefined) {
    const given = Array.isArray(auth['tokens']) ? (auth['tokens'] as unknown[]) : [];
    const others = given.filter(
      (t) => !isPlainObject(t) || (t['token'] !== DEFAULT_ADMIN_TOKEN && t['name'] !== 'admin'),
    );
    auth['tokens'] = [{ name: 'admin', token: admin, role: 'admin' }, ...others];
    fromEnv.set('auth.tokens', file === undefined ? 'OPERATOR_ADMIN_TOKEN' : 'OPERATOR_TOKENS_FILE');
  }
}

function readTokensFile(file: string, display: string): unknown {
  const source = 'env OPERATOR_TOKENS_FILE';
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const message = `cannot read tokens file ${display}: ${(error as Error).message}`;
    throw new ConfigError([{ source, path: 'auth.tokens', message }]);
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0)
    throw new ConfigError([
      { source, path: 'auth.tokens', message: `tokens file ${display}: YAML syntax error` },
    ]);
  const value: unknown = doc.toJS();
  return isPlainObject(value) && 'tokens' in value ? value['tokens'] : value;
}

/** Numeric text becomes a number; anything else stays text so validation reports it with the value. */
function toNumberIfNumeric(value: string): number | string {
  return /^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$/.test(value) ? Number(value) : value;
}

function setIn(target: Record<string, unknown>, path: readonly string[], value: unknown): boolean {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null) node[key] = {};
    else if (!isPlainObject(next)) return false; // the wrong type is reported by validation
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
  return true;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function toConfigIssues(
  issue: z.core.$ZodIssue,
  display: string,
  fromEnv: Map<string, string>,
  locate: (path: readonly PropertyKey[]) => number | undefined,
): ConfigIssue[] {
  const paths =
    issue.code === 'unrecognized_keys' ? issue.keys.map((key) => [...issue.path, key]) : [issue.path];
  return paths.map((path) => {
    const keyPath = formatKeyPath(path);
    const envName = envSourceOf(keyPath, fromEnv);
    const message =
      issue.code === 'unrecognized_keys'
        ? unknownKeyMessage(String(path[path.length - 1]), knownKeysAt(configSchema, issue.path))
        : issue.message;
    const line = envName ? undefined : locate(path);
    return {
      source: envName ? `env ${envName}` : display,
      path: keyPath,
      message,
      ...(line ? { line } : {}),
    };
  });
}

function envSourceOf(keyPath: string, fromEnv: Map<string, string>): string | undefined {
  for (const [path, name] of fromEnv)
    if (keyPath === path || keyPath.startsWith(`${path}.`) || keyPath.startsWith(`${path}[`)) return name;
  return undefined;
}

/** 1-based line of the YAML node at `path`, or of its nearest existing parent. */
function lineOf(doc: Document, lineCounter: LineCounter, path: readonly PropertyKey[]): number | undefined {
  for (let n = path.length; n > 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return lineCounter.linePos(node.range[0]).line;
  }
  return undefined;
}
