import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Config, ConfigInput } from '../../src/infra/config/configSchema.ts';
import { configSchema } from '../../src/infra/config/configSchema.ts';
import { createLogger } from '../../src/infra/logging/logger.ts';
import type { RunnerClock } from '../../src/runner/index.ts';
import type { RunningServer } from '../../src/server/startServer.ts';
import { startServer } from '../../src/server/startServer.ts';

export const TOKENS = {
  admin: 'test-admin-token-0001',
  operator: 'test-operator-token-0001',
  viewer: 'test-viewer-token-0001',
} as const;

export interface TestServer extends RunningServer {
  config: Config;
  dir: string;
  logLines: string[];
  /** fetch against the API with a role's token (or none). */
  api(
    path: string,
    init?: RequestInit & { as?: keyof typeof TOKENS | null; json?: unknown },
  ): Promise<Response>;
  stop(): Promise<void>;
}

export function testConfig(dir: string, overrides: Partial<ConfigInput> = {}): Config {
  const base: ConfigInput = {
    server: { port: 0, host: '127.0.0.1', log_level: 'info' },
    auth: {
      tokens: [
        { name: 'root', token: TOKENS.admin, role: 'admin' },
        { name: 'alice', token: TOKENS.operator, role: 'operator' },
        { name: 'victor', token: TOKENS.viewer, role: 'viewer' },
      ],
    },
    storage: { data_dir: join(dir, 'data'), runs_dir: join(dir, 'runs') },
    streaming: { heartbeat_seconds: 1 },
    pipelines: {
      external: {
        stages: [{ name: 'ingest' }, { name: 'review', gate: { timeout: '1h' } }, { name: 'publish' }],
      },
      looping: { stages: [{ name: 'work', retries: 100 }] },
    },
    // Plenty of lanes: tests start jobs by hand side by side; a test about lanes sets its own `pipeline`.
    pipeline: { default: 'external', lanes: 1000 },
  };
  return configSchema.parse({ ...base, ...overrides });
}

export interface TestServerOptions {
  /**
   * Run the pipeline runner. Default false: the e2e tests drive stages by hand over the API, and a runner
   * would start queued jobs under them.
   */
  runner?: boolean;
  /** The runner's (and the API's) clock; tests advance it to run gate timeouts at once. */
  clock?: RunnerClock;
  /** Reuse this temp dir (its data and runs) instead of a new one: a restart of an earlier server. */
  dir?: string;
  /** Listen on this port instead of a random one (with `dir`: the same server, restarted). */
  port?: number;
}

/** A real server on a random loopback port, with real LMDB files in a temp dir. */
export async function startTestServer(
  overrides: Partial<ConfigInput> = {},
  options: TestServerOptions = {},
): Promise<TestServer> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'operator-e2e-')));
  const config = testConfig(dir, overrides);
  if (options.port !== undefined) config.server.port = options.port;
  const logLines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      logLines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ level: config.server.log_level, destination });
  const server = await startServer({
    config,
    logger,
    runner: options.runner ?? false,
    ...(options.clock ? { runnerClock: options.clock } : {}),
  });
  return {
    ...server,
    config,
    dir,
    logLines,
    api: async (path, init = {}) => {
      const { as = 'admin', json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (as) headers.set('authorization', `Bearer ${TOKENS[as]}`);
      if (json !== undefined) headers.set('content-type', 'application/json');
      try {
        return await fetch(`${server.url}/api/v1${path}`, {
          ...rest,
          headers,
          body: json !== undefined ? JSON.stringify(json) : rest.body,
        });
      } catch (err) {
        throw withCause(err, `${rest.method ?? 'GET'} ${path}`);
      }
    },
    stop: async () => {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * fetch's own error says only "fetch failed"; ava prints a message, not its cause, so a connection error
 * (reset, refused, timed out) is named in the message.
 */
function withCause(err: unknown, request: string): Error {
  if (!(err instanceof Error)) return new Error(`${request}: ${String(err)}`);
  const cause = err.cause as { code?: string; message?: string } | undefined;
  const why = cause ? ` (${[cause.code, cause.message].filter(Boolean).join(': ')})` : '';
  return new Error(`${request}: ${err.message}${why}`, { cause: err });
}

export async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}
