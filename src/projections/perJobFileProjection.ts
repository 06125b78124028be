import type { Logger } from 'pino';
import type { JobEvent } from '../domain/events.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { FileSyncs } from '../infra/files/durableFiles.ts';
import type { CheckpointStore } from './checkpointStore.ts';
import { groupByJob } from './groupByJob.ts';
import { mapLimit } from './mapLimit.ts';
import { maxPosition } from './positions.ts';
import type { Projection } from './projection.ts';

export interface PerJobFileProjectionOptions {
  runsDir: string;
  /** Where the checkpoint lives (the read model env's `checkpoints` db). */
  checkpoints: CheckpointStore;
  /** Read back when a job's file lacks events before the batch's, or its state is neither cached nor readable. */
  store: EventStore;
  logger?: Logger;
  /** Checkpoint key; default the projection's name. A rebuild into another runs dir uses its own. */
  name?: string;
  /** Jobs whose last seq or state is kept in memory. */
  cacheSize?: number;
  /** Jobs written at once. Default 16. */
  concurrency?: number;
  /**
   * Default true. False for a rebuild's aside copy, which nobody reads before it is swapped in: no fsync
   * per file and batch; the rebuild syncs the whole copy once before the swap.
   */
  sync?: boolean;
  /**
   * With `sync`: fsync the files a batch wrote at most this often, each once however many batches touched
   * it, and move the checkpoint only then (a group sync; see `FileSyncs`). Default 0: every batch's files
   * are fsynced before its checkpoint moves.
   */
  syncEveryMs?: number;
}

/** Wait before a failed group sync is tried again. */
const FLUSH_RETRY_MS = 1_000;

/**
 * What the file projections (`jsonl`, `state`) share: a batch is split by job (events at or below the
 * checkpoint, and ids that cannot be paths, are skipped), each job's files are written, and only then does
 * the checkpoint move: at once, or with a group sync (`syncEveryMs`) at the next flush, once every file
 * written before it is fsynced. A subclass writes one job's files, making them durable through `syncs`.
 */
export abstract class PerJobFileProjection implements Projection {
  /** What is applied, in this process (the stored checkpoint trails it by at most one group sync). */
  #checkpoint: string | null | undefined;
  protected readonly syncs: FileSyncs;
  readonly #syncEveryMs: number;
  /** Applied, its files not yet fsynced: the checkpoint the next flush stores. */
  #due: string | undefined;
  #lastFlush = Number.NEGATIVE_INFINITY;
  #flushTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  protected constructor(
    readonly name: string,
    private readonly base: PerJobFileProjectionOptions,
  ) {
    this.#syncEveryMs = base.syncEveryMs ?? 0;
    this.syncs = new FileSyncs(base.sync === false ? 'none' : this.#syncEveryMs > 0 ? 'group' : 'each');
  }

  async checkpoint(): Promise<string | null> {
    this.#checkpoint ??= this.base.checkpoints.get(this.name);
    return this.#checkpoint;
  }

  async apply(batch: readonly JobEvent[]): Promise<void> {
    const checkpoint = await this.checkpoint();
    const byJob = groupByJob(batch, checkpoint, {
      safeIdsOnly: true,
      logger: this.base.logger,
      projection: this.name,
    });
    await mapLimit([...byJob], this.base.concurrency ?? 16, ([jobId, events]) =>
      this.projectJob(jobId, events),
    );
    const last = batch.at(-1);
    if (!last) return;
    const next = maxPosition(checkpoint, last.position);
    if (next === checkpoint) return;
    if (this.syncs.mode !== 'group') {
      await this.base.checkpoints.set(this.name, next as string);
      this.#checkpoint = next;
      return;
    }
    this.#checkpoint = next;
    this.#due = next as string;
    const wait = this.#lastFlush + this.#syncEveryMs - performance.now();
    if (wait <= 0) await this.#flushOrRetry();
    else this.#flushTimer ??= setTimeout(() => void this.#flushOrRetry(), wait).unref();
  }

  /**
   * Makes everything applied durable: the files written since the last flush are fsynced, then the
   * checkpoint is stored. Nothing to do unless `syncEveryMs` is set. Flushes run one at a time; a failure
   * is thrown (and the next flush tries the same files again).
   */
  sync(): Promise<void> {
    const run = this.#flushing.then(() => this.#flushNow());
    this.#flushing = run.catch(() => {});
    return run;
  }

  async #flushNow(): Promise<void> {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const due = this.#due;
    if (due === undefined) return;
    this.#due = undefined;
    this.#lastFlush = performance.now();
    try {
      await this.syncs.flush();
      await this.base.checkpoints.set(this.name, due);
    } catch (error) {
      // A later batch's checkpoint covers this one's files too (they stay remembered): keep the later.
      this.#due ??= due;
      throw error;
    }
  }

  /** A group sync due: a failure is logged and the flush retried later (the stored checkpoint waits). */
  async #flushOrRetry(): Promise<void> {
    try {
      await this.sync();
    } catch (error) {
      const retryInMs = Math.max(this.#syncEveryMs, FLUSH_RETRY_MS);
      this.base.logger?.error(
        { err: error, projection: this.name, retry_in_ms: retryInMs },
        'projection files not synced; the stored checkpoint stays behind until they are',
      );
      this.#flushTimer ??= setTimeout(() => void this.#flushOrRetry(), retryInMs).unref();
    }
  }

  /** Makes what is applied durable (`sync`); a subclass drops its caches after it. */
  async close(): Promise<void> {
    await this.sync();
  }

  /** Writes one job's files for its events of the batch (in seq order, all above the checkpoint). */
  protected abstract projectJob(jobId: string, events: readonly JobEvent[]): Promise<void>;
}
