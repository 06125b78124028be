import { Worker } from 'node:worker_threads';

export type OutputStream = 'stdout' | 'stderr';

export interface StageSpawnOptions {
  /** Given to `/bin/sh -c`. */
  run: string;
  cwd: string;
  env: Readonly<Record<string, string>>;
  /** Each chunk the command writes, in the order it wrote them (from the moment it runs). */
  onOutput: (stream: OutputStream, chunk: Buffer) => void;
  /**
   * An open file (its descriptor) the thread writes `{"pgid": <pid>, ...record}` into the moment the fork
   * returns, before it tells this thread anything: a crash right after the spawn still leaves the group
   * findable. The caller keeps the file open until `spawn` settles, then closes it.
   */
  pidFile?: { fd: number; record: Readonly<Record<string, unknown>> };
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** When the thread saw the exit (`process.hrtime.bigint()`, the same clock on every thread). */
  atNs: bigint;
}

/** A started command: `/bin/sh -c <run>` leading its own process group (detached), stdout and stderr piped. */
export interface SpawnedStage {
  readonly pid: number;
  /** Why the pid file could not be written (the command runs all the same), or null. */
  readonly pidFileError: string | null;
  /** Taken on the thread just before the spawn (`process.hrtime.bigint()`): the run is timed off the main thread's loop. */
  readonly startedNs: bigint;
  /** Its exit. */
  readonly exited: Promise<Exit>;
  /** Its stdout and stderr are closed (everything written was handed to `onOutput`). */
  readonly closed: Promise<void>;
  /** Stops / restarts reading its output (it then blocks on its writes): bounded memory. */
  pause(): void;
  resume(): void;
  /** Stops reading its output for good (a background process holding the pipes). */
  dropStdio(): void;
  /** Reads its output on but drops it on the spawning thread (the log was cut): nothing more crosses over. */
  discardOutput(): void;
}

type ToThread =
  | {
      kind: 'spawn';
      id: number;
      run: string;
      cwd: string;
      env: Readonly<Record<string, string>>;
      pidFile?: StageSpawnOptions['pidFile'];
    }
  | { kind: 'pause' | 'resume' | 'drop' | 'discard'; id: number };

type FromThread =
  | { kind: 'spawned'; id: number; pid: number; atNs: bigint; pidFileError: string | null }
  | { kind: 'failed'; id: number; message: string; code?: string }
  | { kind: 'output'; id: number; stream: OutputStream; chunk: Uint8Array }
  | { kind: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null; atNs: bigint }
  | { kind: 'close'; id: number };

/**
 * The thread's whole program (plain JavaScript, no module loading). A spawn is a fork of this process and
 * waits for the child's exec: done here, it never stands between a commit and the writes of its frames on
 * the main thread. Output chunks cross copied into buffers of their own, transferred.
 */
const THREAD = `
const { spawn } = require('node:child_process');
const { ftruncateSync, writeSync } = require('node:fs');
const { parentPort } = require('node:worker_threads');
const children = new Map();
const discarding = new Set();
const post = (m, transfer) => parentPort.postMessage(m, transfer);
function writePidFile(pidFile, pid) {
  if (!pidFile || pid === undefined) return null;
  try {
    ftruncateSync(pidFile.fd, 0);
    writeSync(pidFile.fd, JSON.stringify({ pgid: pid, ...pidFile.record }) + '\\n', 0);
    return null;
  } catch (e) {
    return String(e && e.message);
  }
}
function start(m) {
  let child;
  // Taken before the spawn: by the 'spawn' event the command has been running for a while already (the pid
  // file is written first, then a turn of this thread's loop), so a run timed from there came out short.
  const startedNs = process.hrtime.bigint();
  try {
    child = spawn('/bin/sh', ['-c', m.run], { cwd: m.cwd, env: m.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    post({ kind: 'failed', id: m.id, message: String(e && e.message), code: e && e.code });
    return;
  }
  const pidFileError = writePidFile(m.pidFile, child.pid);
  let running = false;
  child.on('error', (e) => {
    if (!running) post({ kind: 'failed', id: m.id, message: String(e && e.message), code: e && e.code });
  });
  child.once('spawn', () => {
    running = true;
    children.set(m.id, child);
    post({ kind: 'spawned', id: m.id, pid: child.pid, atNs: startedNs, pidFileError });
  });
  for (const stream of ['stdout', 'stderr'])
    child[stream].on('data', (chunk) => {
      if (discarding.has(m.id)) return;
      const copy = new Uint8Array(chunk);
      post({ kind: 'output', id: m.id, stream, chunk: copy }, [copy.buffer]);
    });
  child.once('exit', (code, signal) => post({ kind: 'exit', id: m.id, code, signal, atNs: process.hrtime.bigint() }));
  child.once('close', () => {
    children.delete(m.id);
    discarding.delete(m.id);
    post({ kind: 'close', id: m.id });
  });
}
parentPort.on('message', (m) => {
  if (m.kind === 'spawn') return start(m);
  const child = children.get(m.id);
  if (!child) return;
  if (m.kind === 'discard') return void discarding.add(m.id);
  for (const s of [child.stdout, child.stderr])
    if (m.kind === 'pause') s.pause();
    else if (m.kind === 'resume') s.resume();
    else s.destroy();
});
`;

interface Pending {
  options: StageSpawnOptions;
  resolve(stage: SpawnedStage): void;
  reject(error: Error): void;
  exited: Promise<Exit>;
  exit(exit: Exit): void;
  closed: Promise<void>;
  close(): void;
  spawned: boolean;
}

/**
 * Starts stage commands from one worker thread of this process, so that the synchronous fork/exec of
 * `child_process.spawn` runs beside the event loop, not on it. The thread is this process's: a `kill -9`
 * of the operator ends it with the process, and the commands' groups are left exactly as a spawn from the
 * main thread leaves them (found again through their pid files). The thread holds the process open only
 * while a command it started runs. Should the thread ever die, the commands it started are reported as
 * exited (their groups are then ended by the runner) and the next spawn starts a new thread.
 */
export class StageSpawner {
  #worker: Worker | null = null;
  #nextId = 1;
  readonly #live = new Map<number, Pending>();

  /** Starts the thread ahead of the first stage (it takes a moment to boot); it holds nothing open. */
  warm(): void {
    this.#thread();
  }

  spawn(options: StageSpawnOptions): Promise<SpawnedStage> {
    const worker = this.#thread();
    const id = this.#nextId++;
    return new Promise<SpawnedStage>((resolve, reject) => {
      const pending = { options, resolve, reject, spawned: false } as Pending;
      pending.exited = new Promise<Exit>((r) => {
        pending.exit = r;
      });
      pending.closed = new Promise<void>((r) => {
        pending.close = r;
      });
      this.#live.set(id, pending);
      this.#holdOpen();
      const message: ToThread = {
        kind: 'spawn',
        id,
        run: options.run,
        cwd: options.cwd,
        env: options.env,
        ...(options.pidFile ? { pidFile: options.pidFile } : {}),
      };
      worker.postMessage(message);
    });
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(THREAD, { eval: true, execArgv: [], stdout: false, stderr: false });
    worker.on('message', (message: FromThread) => this.#receive(message));
    worker.on('error', (error) => this.#lost(worker, error));
    worker.on('exit', (code) => this.#lost(worker, new Error(`stage spawner thread exited (${code})`)));
    this.#worker = worker;
    // After the listeners: listening for messages references the thread's port again.
    this.#holdOpen();
    return worker;
  }

  #receive(message: FromThread): void {
    const pending = this.#live.get(message.id);
    if (!pending) return;
    switch (message.kind) {
      case 'spawned':
        pending.spawned = true;
        pending.resolve(this.#handle(message, pending));
        return;
      case 'failed':
        this.#forget(message.id);
        pending.reject(
          Object.assign(new Error(message.message), message.code === undefined ? {} : { code: message.code }),
        );
        return;
      case 'output':
        pending.options.onOutput(
          message.stream,
          Buffer.from(message.chunk.buffer, message.chunk.byteOffset, message.chunk.byteLength),
        );
        return;
      case 'exit':
        pending.exit({ code: message.code, signal: message.signal, atNs: message.atNs });
        return;
      case 'close':
        this.#forget(message.id);
        pending.close();
        return;
    }
  }

  #handle(spawned: Extract<FromThread, { kind: 'spawned' }>, pending: Pending): SpawnedStage {
    const { id, pid, atNs: startedNs, pidFileError } = spawned;
    const send = (kind: 'pause' | 'resume' | 'drop' | 'discard') => {
      const message: ToThread = { kind, id };
      this.#worker?.postMessage(message);
    };
    return {
      pid,
      pidFileError,
      startedNs,
      exited: pending.exited,
      closed: pending.closed,
      pause: () => send('pause'),
      resume: () => send('resume'),
      dropStdio: () => send('drop'),
      discardOutput: () => send('discard'),
    };
  }

  /** The thread died: what it started can no longer be watched. */
  #lost(worker: Worker, error: Error): void {
    if (this.#worker !== worker) return;
    this.#worker = null;
    const live = [...this.#live.values()];
    this.#live.clear();
    for (const pending of live) {
      if (!pending.spawned) pending.reject(error);
      pending.exit({ code: null, signal: null, atNs: process.hrtime.bigint() });
      pending.close();
    }
  }

  #forget(id: number): void {
    this.#live.delete(id);
    this.#holdOpen();
  }

  /** Referenced while a command runs (as a child process handle would be), so a shutdown waits for it. */
  #holdOpen(): void {
    if (this.#live.size > 0) this.#worker?.ref();
    else this.#worker?.unref();
  }
}

/** The process's spawner: one thread, started with the first stage. */
export const stageSpawner = new StageSpawner();
