import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import type { Config, ConfigInput } from '../../src/infra/config/configSchema.ts';
import { createLogger } from '../../src/infra/logging/logger.ts';
import type { RunningServer } from '../../src/server/startServer.ts';
import { startServer } from '../../src/server/startServer.ts';
import { TOKENS, testConfig } from './testServer.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin/operator.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** From the first stdout chunk to the last: what the command took once it was running (0 with no output). */
  outputMs: number;
}

export interface CliOptions {
  /** Added to a clean environment (no OPERATOR_* variables from the test's own). */
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Another launcher than the project's `bin/operator.js` (a copy in a project of its own). */
  bin?: string;
  /** Default: the project's root. */
  cwd?: string;
  /** A file descriptor the command writes its stdout to (as a shell's `> /dev/full`) instead of a pipe. */
  stdoutFd?: number;
}

function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env))
    if (!key.startsWith('OPERATOR_') && key !== 'EVENTSTORE_CONNECTION_STRING') env[key] = value;
  return { ...env, ...extra };
}

/** The real `operator` binary as a child process, started at once; output is collected as it comes. */
export class CliProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<CliResult>;
  readonly #started = Date.now();
  #firstOutput: number | null = null;
  #lastOutput: number | null = null;
  #listeners = new Set<() => void>();

  constructor(args: readonly string[], options: CliOptions = {}) {
    this.child = spawn(process.execPath, [options.bin ?? BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: cleanEnv(options.env),
      stdio: ['ignore', options.stdoutFd ?? 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (chunk: Buffer) => {
      this.#lastOutput = Date.now();
      this.#firstOutput ??= this.#lastOutput;
      this.stdout += chunk.toString();
      for (const listener of this.#listeners) listener();
    });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
      for (const listener of this.#listeners) listener();
    });
    const timeout = setTimeout(() => this.child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code) => {
        clearTimeout(timeout);
        for (const listener of this.#listeners) listener();
        const outputMs = (this.#lastOutput ?? 0) - (this.#firstOutput ?? 0);
        resolve({ code, stdout: this.stdout, stderr: this.stderr, ms: Date.now() - this.#started, outputMs });
      });
    });
  }

  /** Resolves once `predicate(stdout, stderr)` holds; rejects after `timeoutMs` or if the process exits first. */
  waitFor(predicate: (stdout: string, stderr: string) => boolean, timeoutMs = 20_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (predicate(this.stdout, this.stderr)) done(null);
        else if (this.child.exitCode !== null || this.child.signalCode !== null)
          done(
            new Error(
              `exited (${this.child.exitCode}) first; stdout: ${this.stdout}\nstderr: ${this.stderr}`,
            ),
          );
      };
      const timer = setTimeout(
        () =>
          done(
            new Error(`timed out; stdout: ${this.stdout.slice(-2000)}\nstderr: ${this.stderr.slice(-2000)}`),
          ),
        timeoutMs,
      );
      // The predicate may watch more than the output (e.g. a proxy's connections): poll it too.
      const poll = setInterval(check, 50);
      const done = (error: Error | null) => {
        clearTimeout(timer);
        clearInterval(poll);
        this.#listeners.delete(check);
        if (error) reject(error);
        else resolve();
      };
      this.#listeners.add(check);
      check();
    });
  }
}

/** Runs the real `operator` binary to completion. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return new CliProcess(args, options).exited;
}

/** A world for CLI tests: a config file on disk, its data and runs dirs, and a server that can be stopped and started. */
export interface CliWorld {
  dir: string;
  config: Config;
  configPath: string;
  server: RunningServer | null;
  url: string;
  /** A closed port on loopback: nothing listens there. */
  deadUrl: string;
  logLines: string[];
  start(): Promise<RunningServer>;
  stop(): Promise<void>;
  cleanup(): Promise<void>;
  /** fetch against the running server's API with the admin token. */
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  /** `args` for a command on the local files: `-c <config>` appended. */
  local(...args: string[]): string[];
  /** `args` for a command that talks to the server: `--url` and `--token` appended. */
  remote(...args: string[]): string[];
}

export interface CliWorldOptions {
  clock?: () => Date;
}

export async function cliWorld(
  overrides: Partial<ConfigInput> = {},
  options: CliWorldOptions = {},
): Promise<CliWorld> {
  const dir = await mkdtemp(join(tmpdir(), 'operator-cli-'));
  const config = testConfig(dir, {
    ...overrides,
    server: { port: 0, host: '127.0.0.1', log_level: 'warn' },
    // storage keys given by the test are added to the temp dirs, not replacing them
    storage: { data_dir: join(dir, 'data'), runs_dir: join(dir, 'runs'), ...overrides.storage },
  });
  const configPath = join(dir, 'operator.yaml');
  // JSON is YAML: the file holds exactly the config the in-process server runs with.
  await writeFile(configPath, JSON.stringify(config, null, 2));
  const logLines: string[] = [];
  const deadUrl = await closedPortUrl();
  const world: CliWorld = {
    dir,
    config,
    configPath,
    server: null,
    url: '',
    deadUrl,
    logLines,
    async start() {
      const destination = new Writable({
        write(chunk, _enc, done) {
          logLines.push(...chunk.toString().split('\n').filter(Boolean));
          done();
        },
      });
      const logger = createLogger({ level: 'info', destination });
      const server = await startServer({
        config,
        logger,
        runner: false,
        ...(options.clock ? { clock: options.clock } : {}),
      });
      world.server = server;
      world.url = server.url;
      return server;
    },
    async stop() {
      await world.server?.close();
      world.server = null;
    },
    async cleanup() {
      await world.stop();
      await rm(dir, { recursive: true, force: true });
    },
    api(path, init = {}) {
      const { json, ...rest } = init;
      const headers = new Headers(rest.headers);
      headers.set('authorization', `Bearer ${TOKENS.admin}`);
      if (json !== undefined) headers.set('content-type', 'application/json');
      return fetch(`${world.url}/api/v1${path}`, {
        ...rest,
        headers,
        body: json !== undefined ? JSON.stringify(json) : rest.body,
      });
    },
    local: (...args) => [...args, '-c', configPath],
    remote: (...args) => [...args, '--url', world.url, '--token', TOKENS.admin],
  };
  return world;
}

/** Drives a job of the test config's `external` pipeline (ingest, review + gate, publish) over the API. */
export async function advance(
  world: CliWorld,
  jobId: string,
  to: 'created' | 'running' | 'paused' | 'completed' | 'canceled',
): Promise<void> {
  const post = async (path: string, body: unknown = {}) => {
    const res = await world.api(path, { method: 'POST', json: body });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  };
  await post('/jobs', { id: jobId, params: { n: jobId } });
  if (to === 'created') return;
  await post(`/jobs/${jobId}/start`);
  if (to === 'canceled') return post(`/jobs/${jobId}/cancel`, { reason: 'not needed' });
  await post(`/jobs/${jobId}/stages/ingest/start`);
  await post(`/jobs/${jobId}/stages/ingest/complete`, { duration_ms: 5 });
  if (to === 'running') return;
  await post(`/jobs/${jobId}/stages/review/start`);
  await post(`/jobs/${jobId}/stages/review/complete`, { duration_ms: 5 });
  if (to === 'paused') return;
  await post(`/jobs/${jobId}/gates/review/approve`, { comment: 'fine' });
  await post(`/jobs/${jobId}/stages/publish/start`);
  await post(`/jobs/${jobId}/stages/publish/complete`, { duration_ms: 5 });
}

/** Waits until the server's projections have applied everything in the store. */
export async function settle(world: CliWorld): Promise<void> {
  const server = world.server;
  if (!server) throw new Error('no server');
  const head = await server.deps.store.headPosition();
  if (head !== null && !(await server.deps.projections.waitForPosition(head, 15_000)))
    throw new Error(`projections did not reach ${head}`);
}

/** A loopback URL whose port was free a moment ago and has nothing listening on it. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
