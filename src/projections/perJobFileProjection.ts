import type { Logger } from 'pino';
import type { JobEvent } from '../domain/events.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
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
}

/**
 * What the file projections (`jsonl`, `state`) share: a batch is split by job (events at or below the
 * checkpoint, and ids that cannot be paths, are skipped), each job's files are written, and only then does
 * the checkpoint move. A subclass writes one job's files.
 */
export abstract class PerJobFileProjection implements Projection {
  #checkpoint: string | null | undefined;

  protected constructor(
    readonly name: string,
    private readonly base: PerJobFileProjectionOptions,
  ) {}

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
    if (next !== checkpoint) {
      await this.base.checkpoints.set(this.name, next as string);
      this.#checkpoint = next;
    }
  }

  abstract close(): Promise<void>;

  /** Writes one job's files for its events of the batch (in seq order, all above the checkpoint). */
  protected abstract projectJob(jobId: string, events: readonly JobEvent[]): Promise<void>;
}
