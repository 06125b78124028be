import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { waitFor } from './runnerHarness.ts';

/** The admin token of the default configuration: every child is called with it. */
export const SERVE_TOKEN = 'default-admin-token-change-me';

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** `operator serve` running in a child process, listening on a loopback port. */
export interface ServeChild {
  name: string;
  child: ChildProcessByStdio<null, Readable, Readable>;
  pid: number;
  port: number;
  exited: Promise<ChildExit>;
  /** Everything the child printed so far (stdout and stderr). */
  output: () => string;
  api(path: string, init?: { method?: string; json?: unknown }): Promise<Response>;
}

export interface ServeOptions {
  /** Names the child in errors (and in multi-operator tests, the operator). */
  name?: string;
  /** Added to the test's own environment. */
  env?: Record<string, string>;
  /** How long to wait for the "listening on" line. */
  startMs?: number;
}

/**
 * Writes `<home>/operator.yaml`: a loopback server on port 0, data and runs dirs inside `home`, then `lines`.
 * Returns the file's path.
 */
export async function writeServeConfig(home: string, lines: string[]): Promise<string> {
  await mkdir(home, { recursive: true });
  const path = join(home, 'operator.yaml');
  await writeFile(
    path,
    [
      'server: {port: 0, host: 127.0.0.1, log_level: info}',
      `storage: {data_dir: ${join(home, 'data')}, runs_dir: ${join(home, 'runs')}}`,
      ...lines,
    ].join('\n'),
  );
  return path;
}

/** The `store:` line for an EventStoreDB (or its double) with a lease of `leaseTtlMs`. */
export function esdbStoreLine(connectionString: string, leaseTtlMs: number): string {
  return `store: {kind: eventstoredb, connection_string: '${connectionString}', lease_ttl: ${leaseTtlMs}ms}`;
}

/** `operator serve --config <configPath>` in a child process, as an operator would run it; resolves once it listens. */
export async function serveChild(configPath: string, options: ServeOptions = {}): Promise<ServeChild> {
  const name = options.name ?? 'the server';
  const child = spawn(process.execPath, ['bin/operator.js', 'serve', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ? { ...process.env, ...options.env } : process.env,
  });
  const exited = new Promise<ChildExit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} did not start: ${output}`)),
      options.startMs ?? 20_000,
    );
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name} exited: ${output}`));
    });
  });
  return {
    name,
    child,
    pid: child.pid as number,
    port,
    exited,
    output: () => output,
    api: (path, init = {}) =>
      fetch(`http://127.0.0.1:${port}/api/v1${path}`, {
        method: init.method ?? 'GET',
        headers: { authorization: `Bearer ${SERVE_TOKEN}`, 'content-type': 'application/json' },
        body: init.json === undefined ? undefined : JSON.stringify(init.json),
      }),
  };
}

/** The role `/readyz` answers (leader, standby), or undefined while the child does not answer (killed). */
export async function roleOf(server: ServeChild): Promise<string | undefined> {
  try {
    return ((await (await server.api('/readyz')).json()) as { role?: string }).role;
  } catch {
    return undefined;
  }
}

/** Waits until exactly one of `servers` leads; its roles (in the order of `servers`), the leader and a standby. */
export async function oneLeader(
  servers: readonly ServeChild[],
  timeoutMs = 10_000,
): Promise<{ roles: (string | undefined)[]; leader: ServeChild; standby: ServeChild }> {
  const roles = await waitFor(
    'one leader',
    async () => {
      const r = await Promise.all(servers.map(roleOf));
      return r.filter((x) => x === 'leader').length === 1 ? r : undefined;
    },
    timeoutMs,
  );
  return {
    roles,
    leader: servers[roles.indexOf('leader')] as ServeChild,
    standby: servers[roles.indexOf('standby')] as ServeChild,
  };
}
