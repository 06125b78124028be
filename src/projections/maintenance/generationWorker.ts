import { Worker } from 'node:worker_threads';
import type { JobEvent } from '../../domain/events.ts';
import type { JobState } from '../../domain/jobState.ts';
import { StorageFullError } from '../../infra/eventstore/storeErrors.ts';
import type { Projection } from '../index.ts';
import { canonicalJson, comparePositions } from '../index.ts';

export interface GenerationThreadData {
  dataDir: string;
  generation: number;
}

export type GenerationRequest =
  | { kind: 'apply'; lines: string /** JSON of [job id, state] pairs. */; states: string }
  | { kind: 'flush' }
  | { kind: 'close' };

export type GenerationReply =
  | { kind: 'applied' }
  | { kind: 'flushed'; checkpoint: string | null }
  | { kind: 'closed' }
  | {
      kind: 'failed';
      message: string;
      stack?: string;
      /** The write was refused for want of space: the caller says so (`StorageFullError`), without a stack. */
      storageFull?: boolean;
    };

/** Batches sent and not yet applied by the thread: one being written, one waiting. */
const MAX_IN_FLIGHT = 2;

/**
 * Folded states sent with one batch at most; the thread folds the batch's other jobs itself. A batch of a
 * log with many jobs under way touches thousands of them, and sending every state would make the rebuild's
 * memory grow with that number (1.55x for 1M vs 103k events in the bench, against 1.38x without states).
 */
const MAX_STATES_PER_BATCH = 1_000;

/**
 * A rebuild's read model generation, filled on a worker thread (`generationThread.ts`) by a
 * `GenerationBuilder`: the rebuild's thread reads the log and writes the job files while the other core
 * writes the rows, which are most of a rebuild's CPU time. Each batch crosses as one string of canonical
 * JSON lines (the text the JSONL files and the `events` rows hold, serialised once); at most two batches are
 * in flight, so memory stays bounded. `flush()` resolves once every batch is committed and on disk, with the
 * generation's checkpoint as the thread wrote it.
 */
export class GenerationWorker implements Projection {
  readonly name = 'readmodel';
  readonly #worker: Worker;
  readonly #waiting: { resolve(reply: GenerationReply): void; reject(error: Error): void }[] = [];
  readonly #applies = new Set<Promise<GenerationReply>>();
  /** States handed to `folded` since the last batch was sent (at most `MAX_STATES_PER_BATCH`). */
  readonly #foldedStates = new Map<string, JobState>();
  #checkpoint: string | null = null;
  #failure: Error | null = null;

  constructor(data: GenerationThreadData) {
    this.#worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: {
        ...data,
        tsx: import.meta.resolve('tsx/esm/api'),
        entry: new URL('./generationThread.ts', import.meta.url).href,
      },
      execArgv: profilerFlags(process.execArgv),
    });
    this.#worker.on('message', (reply: GenerationReply) => {
      if (reply.kind === 'failed') this.#fail(threadFailure(reply));
      else this.#waiting.shift()?.resolve(reply);
    });
    this.#worker.on('error', (error) => this.#fail(error));
    this.#worker.on('exit', (code) => this.#fail(new Error(`read model thread exited (${code})`)));
  }

  async checkpoint(): Promise<string | null> {
    return this.#checkpoint;
  }

  /**
   * A job's state after the batch about to be applied, as the rebuild's state projection folded it (it runs
   * first): sent with that batch, for the first `MAX_STATES_PER_BATCH` jobs; the thread folds the others.
   */
  folded(jobId: string, state: JobState): void {
    if (this.#foldedStates.size < MAX_STATES_PER_BATCH || this.#foldedStates.has(jobId))
      this.#foldedStates.set(jobId, state);
  }

  async apply(batch: readonly JobEvent[]): Promise<void> {
    const last = batch.at(-1);
    if (!last) return;
    if (this.#failure) throw this.#failure;
    while (this.#applies.size >= MAX_IN_FLIGHT) await Promise.race(this.#applies);
    let lines = '';
    for (const event of batch) lines += `${canonicalJson(event)}\n`;
    const states = JSON.stringify([...this.#foldedStates]);
    this.#foldedStates.clear();
    const applied = this.#request({ kind: 'apply', lines, states });
    this.#applies.add(applied);
    // A failure surfaces from the next call (or flush): here it must not be an unhandled rejection.
    applied.then(
      () => this.#applies.delete(applied),
      () => this.#applies.delete(applied),
    );
    if (this.#checkpoint === null || comparePositions(last.position, this.#checkpoint) > 0)
      this.#checkpoint = last.position;
  }

  /** Every batch applied so far committed and synced; resolves with the generation's checkpoint. */
  async flush(): Promise<string | null> {
    const reply = await this.#request({ kind: 'flush' });
    return reply.kind === 'flushed' ? reply.checkpoint : null;
  }

  async close(): Promise<void> {
    if (this.#failure === null) await this.#request({ kind: 'close' }).catch(() => {});
    await this.#worker.terminate();
  }

  #request(request: GenerationRequest): Promise<GenerationReply> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#worker.postMessage(request);
    });
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(this.#failure);
  }
}

/**
 * The thread's failure as this thread reports it: a full disk as `StorageFullError`, else its message and
 * stack.
 */
function threadFailure(reply: Extract<GenerationReply, { kind: 'failed' }>): Error {
  const error = new Error(`read model thread: ${reply.message}`);
  if (reply.storageFull) return new StorageFullError(error);
  // The thread's frames after this thread's message (its stack's first line repeats its own message).
  const frames = reply.stack?.split('\n').slice(1).join('\n');
  if (frames) error.stack = `Error: ${error.message}\n${frames}`;
  return error;
}

/**
 * The thread's entry: TypeScript through tsx, as the `operator` command runs. Only the profiler's flags are
 * passed on (a `--import` of the parent, e.g. a loader, must not run twice).
 */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
import(workerData.tsx).then((tsx) => { tsx.register(); return import(workerData.entry); });
`;

function profilerFlags(execArgv: readonly string[]): string[] {
  return execArgv.filter((flag) => flag.startsWith('--cpu-prof'));
}
