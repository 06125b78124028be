import type { Command } from 'commander';
import { DEFAULT_ADMIN_TOKEN } from '../infra/config/defaultToken.ts';
import { CliError } from './cliError.ts';
import { printable } from './output.ts';

export const DEFAULT_URL = 'http://127.0.0.1:8008';

export interface ServerOptions {
  url?: string;
  token?: string;
  timeout?: string;
}

/** Adds `--url`, `--token` and `--timeout` (with their env fallbacks) to a command that talks to a server. */
export function withServerOptions(command: Command): Command {
  return command
    .option('--url <url>', `server URL (default $OPERATOR_URL or ${DEFAULT_URL})`)
    .option('--token <token>', 'bearer token (default $OPERATOR_TOKEN or the seed admin token)')
    .option('--timeout <seconds>', 'give up on a request after this long', '30');
}

export interface ApiError {
  code: string;
  message: string;
  details?: unknown;
}

/** The operator's HTTP API as the CLI uses it: JSON in and out, every failure a `CliError` with a clear line. */
export class ApiClient {
  readonly baseUrl: string;
  readonly token: string;
  readonly timeoutMs: number;

  constructor(options: ServerOptions, env: NodeJS.ProcessEnv = process.env) {
    const url = options.url ?? nonEmpty(env['OPERATOR_URL']) ?? DEFAULT_URL;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new CliError(`--url ${JSON.stringify(url)} is not a URL (e.g. ${DEFAULT_URL})`, 2);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
      throw new CliError(
        `--url must be http:// or https:// (e.g. ${DEFAULT_URL}), got ${parsed.protocol}`,
        2,
      );
    // fetch refuses such a URL, and its message would print the password: the token is how to sign in.
    if (parsed.username || parsed.password)
      throw new CliError('--url must not hold a user or password (pass --token or set OPERATOR_TOKEN)', 2);
    this.baseUrl = parsed.toString().replace(/\/+$/, '');
    this.token = options.token ?? nonEmpty(env['OPERATOR_TOKEN']) ?? DEFAULT_ADMIN_TOKEN;
    const seconds = Number(options.timeout ?? 30);
    if (!(seconds > 0)) throw new CliError('--timeout must be a positive number of seconds', 2);
    this.timeoutMs = seconds * 1000;
  }

  url(path: string, query: Record<string, string | number | undefined> = {}): string {
    const url = new URL(`${this.baseUrl}/api/v1${path}`);
    for (const [key, value] of Object.entries(query))
      if (value !== undefined) url.searchParams.set(key, String(value));
    return url.toString();
  }

  async get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  async post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, { body });
  }

  async request<T>(
    method: string,
    path: string,
    options: { query?: Record<string, string | number | undefined>; body?: unknown } = {},
  ): Promise<T> {
    const res = await this.fetch(this.url(path, options.query), {
      method,
      headers: options.body === undefined ? {} : { 'content-type': 'application/json' },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) throw this.httpError(res.status, text);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(
        `${method} ${path}: the server answered ${res.status} with something that is not JSON`,
      );
    }
  }

  /** `fetch` with the token; a network failure becomes "cannot reach the server" (exit 1). */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${this.token}`);
    try {
      return await fetch(url, { ...init, headers });
    } catch (error) {
      throw this.networkError(error);
    }
  }

  networkError(error: unknown): CliError {
    if (error instanceof CliError) return error;
    if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError'))
      return new CliError(
        `the operator server at ${this.baseUrl} did not answer within ${this.timeoutMs / 1000}s`,
      );
    const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
    const reason = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
    return new CliError(
      `cannot reach the operator server at ${this.baseUrl} (${reason})`,
      1,
      'is `operator serve` running? pass --url or set OPERATOR_URL',
    );
  }

  /** A refused request, worded for a person: the token, the role, the job, or the server's own message. */
  httpError(status: number, text: string): CliError {
    const error = parseApiError(text);
    const message = printable(error?.message ?? (text.trim().slice(0, 200) || `HTTP ${status}`));
    if (status === 401)
      return new CliError(
        `the server at ${this.baseUrl} refused the token: ${message}`,
        1,
        'pass --token or set OPERATOR_TOKEN to a token from auth.tokens',
      );
    if (status === 403)
      return new CliError(`not allowed: ${message}`, 1, 'this needs a token with a higher role');
    const code = error?.code ? ` [${error.code}]` : '';
    return new CliError(`${message}${code} (HTTP ${status})`);
  }
}

export function parseApiError(text: string): ApiError | undefined {
  try {
    const body = JSON.parse(text) as { error?: ApiError };
    return body.error && typeof body.error.message === 'string' ? body.error : undefined;
  } catch {
    return undefined;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
