import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The repository root: children run from there so `--import tsx` and relative paths resolve. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The CLI as `npm start` runs it: the launcher, which runs a bundle of the sources (decision 0015). */
export const OPERATOR_BIN = 'bin/operator.js';

/** Open-file limit asked for in every child; the hard limit caps it (the wrapper falls back to it). */
export const WANTED_NOFILE = 65_536;

export interface SpawnNodeOptions {
  args?: readonly string[];
  /** Flags for node before the script (`--expose-gc`, `--cpu-prof`, ...), after `--import tsx`. */
  nodeArgs?: readonly string[];
  /** Load the script through tsx (`--import tsx`). Default true; false for plain JavaScript (`bin/operator.js`). */
  tsx?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Raise RLIMIT_NOFILE with `ulimit -n` in a bash wrapper that then execs node. Default true. */
  raiseNofile?: boolean;
  /** Called with every stdout/stderr line that is not an RPC message. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
}

/** Children still running, so that a failed scenario cannot leave a server behind. */
const running = new Set<NodeChild>();

/** SIGKILLs every child this process started that is still running (after a scenario, and at exit). */
export function killAllChildren(): number {
  const n = running.size;
  for (const child of running) child.kill('SIGKILL');
  return n;
}

/** SIGKILLs every running child and waits until they are gone (before removing their directories). */
export async function stopAllChildren(): Promise<void> {
  const children = [...running];
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(children.map((c) => c.exited));
}

process.on('exit', () => {
  killAllChildren();
});

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/**
 * A node child process: `bash -c 'ulimit -n ...; exec node ...'`, so the pid is node's own. Lines on its
 * stdout that start with `@@` are JSON messages of {@link serveRpc}; the rest is log output, kept (last 200
 * lines) for error messages.
 */
export class NodeChild {
  readonly process: ChildProcessWithoutNullStreams;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly recent: string[] = [];
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #events = new Map<string, ((data: unknown) => void)[]>();
  readonly #lineWaiters = new Set<(line: string) => void>();
  #exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(script: string, options: SpawnNodeOptions = {}) {
    const node = [
      ...(options.tsx === false ? [] : ['--import', 'tsx']),
      ...(options.nodeArgs ?? []),
      script,
      ...(options.args ?? []),
    ];
    const wrapper =
      options.raiseNofile === false
        ? 'export BENCH_NOFILE="$(ulimit -n)"; exec node "$@"'
        : 'ulimit -n "$0" 2>/dev/null || ulimit -n "$(ulimit -Hn)"; export BENCH_NOFILE="$(ulimit -n)"; exec node "$@"';
    this.process = spawn('bash', ['-c', wrapper, String(WANTED_NOFILE), ...node], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const onLine = options.onLine;
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: this.process[stream], crlfDelay: Number.POSITIVE_INFINITY }).on(
        'line',
        (line) => {
          if (stream === 'stdout' && line.startsWith('@@')) {
            this.#message(line.slice(2));
            return;
          }
          this.recent.push(line);
          if (this.recent.length > 200) this.recent.shift();
          onLine?.(line, stream);
          for (const waiter of [...this.#lineWaiters]) waiter(line);
        },
      );
    }
    this.process.stdin.on('error', () => {}); // the child may die with requests in flight
    running.add(this);
    this.exited = new Promise((resolve) => {
      this.process.once('exit', (code, signal) => {
        running.delete(this);
        this.#exitInfo = { code, signal };
        const why = new Error(
          `child ${script} exited (${signal ?? code}) with a request pending${this.#tail()}`,
        );
        for (const pending of this.#pending.values()) pending.reject(why);
        this.#pending.clear();
        resolve({ code, signal });
      });
    });
  }

  get pid(): number {
    return this.process.pid as number;
  }

  get alive(): boolean {
    return this.#exitInfo === null;
  }

  /** Sends `{op, params}` to the child's {@link serveRpc} and resolves with its answer. */
  request<T = unknown>(op: string, params: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<T> {
    if (!this.alive) return Promise.reject(new Error(`child is gone; cannot ${op}${this.#tail()}`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${op}: no answer within ${timeoutMs} ms${this.#tail()}`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.process.stdin.write(`${JSON.stringify({ id, op, params })}\n`);
    });
  }

  /** Resolves with the data of the child's next `emit(event, data)`. */
  nextEvent<T = unknown>(event: string, timeoutMs = 60_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${event} from the child within ${timeoutMs} ms${this.#tail()}`)),
        timeoutMs,
      );
      const list = this.#events.get(event) ?? [];
      list.push((data) => {
        clearTimeout(timer);
        resolve(data as T);
      });
      this.#events.set(event, list);
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`child exited before ${event}${this.#tail()}`));
      });
    });
  }

  /** Resolves with the first match of `pattern` in a log line (stdout or stderr). */
  waitForLine(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const done = (result: RegExpExecArray | Error) => {
        clearTimeout(timer);
        this.#lineWaiters.delete(check);
        if (result instanceof Error) reject(result);
        else resolve(result);
      };
      const check = (line: string) => {
        const match = pattern.exec(line);
        if (match) done(match);
      };
      const timer = setTimeout(
        () => done(new Error(`no line matching ${pattern} within ${timeoutMs} ms${this.#tail()}`)),
        timeoutMs,
      );
      this.#lineWaiters.add(check);
      void this.exited.then(() => done(new Error(`child exited before printing ${pattern}${this.#tail()}`)));
    });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.alive) this.process.kill(signal);
  }

  /** Closes stdin (children serving RPC exit on it), then SIGTERM, then SIGKILL. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.alive) return;
    this.process.stdin.end();
    const timer = setTimeout(() => this.kill('SIGTERM'), graceMs);
    const hard = setTimeout(() => this.kill('SIGKILL'), graceMs * 2);
    await this.exited;
    clearTimeout(timer);
    clearTimeout(hard);
  }

  #message(json: string): void {
    let message: {
      id?: number;
      ok?: boolean;
      result?: unknown;
      error?: string;
      event?: string;
      data?: unknown;
    };
    try {
      message = JSON.parse(json);
    } catch {
      return;
    }
    if (message.event !== undefined) {
      const list = this.#events.get(message.event) ?? [];
      this.#events.delete(message.event);
      for (const listener of list) listener(message.data);
      return;
    }
    const pending = message.id === undefined ? undefined : this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id as number);
    if (message.ok) pending.resolve(message.result);
    else pending.reject(new Error(`${message.error ?? 'request failed'}${this.#tail()}`));
  }

  #tail(): string {
    const last = this.recent.slice(-8).join('\n');
    return last ? `\n--- last lines of the child ---\n${last}` : '';
  }
}
