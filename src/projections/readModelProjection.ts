import { ABORT } from 'lmdb';
import type { Logger } from 'pino';
import { OperatorError } from '../domain/errors.ts';
import type { JobEvent } from '../domain/events.ts';
import { evolve, initialState } from '../domain/jobDecider.ts';
import type { JobState } from '../domain/jobState.ts';
import { lmdbTransaction } from '../infra/lmdb/lmdbWrite.ts';
import { groupByJob } from './groupByJob.ts';
import { canonicalJson } from './jobFold.ts';
import { toJobSummary } from './jobSummary.ts';
import { maxPosition } from './positions.ts';
import type { Projection } from './projection.ts';
import { SYNC_ROW_WRITER, writeEventRows, writeJobRows } from './readModelRows.ts';
import type { GenerationTables, ReadModelStore } from './readModelStore.ts';
import { READ_MODEL_CHECKPOINT } from './readModelStore.ts';
import {
  backfillTimeIndex,
  isTimeIndexed,
  TIME_INDEX_MARKER,
  TIME_INDEX_VERSION,
} from './readModelTimeIndex.ts';
import {
  backfillSearchIndex,
  isSearchIndexed,
  SEARCH_INDEX_MARKER,
  SEARCH_INDEX_VERSION,
  writeSearchPostings,
} from './searchIndex.ts';

export interface ReadModelProjectionOptions {
  store: ReadModelStore;
  /** The generation written; default the one readers use now. A rebuild writes the next one. */
  generation?: number;
  logger?: Logger;
}

/** Another writer moved the checkpoint between this projection's read and its commit. */
export class CheckpointConflictError extends OperatorError {
  constructor(generation: number, expected: string | null) {
    super(
      'projection_checkpoint_conflict',
      `read model generation ${generation}: checkpoint is no longer ${String(expected)}; is another runner writing it?`,
      'conflict',
      { generation, expected },
    );
  }
}

/**
 * The read model (see `ReadModelStore` for the tables). Each batch's rows and the checkpoint are written
 * in one LMDB transaction, so the read model applies each event exactly once and never shows a row its
 * checkpoint does not cover, nor the reverse. The event and job rows are computed before the transaction
 * opens (an async lmdb transaction does not roll back a callback that throws): the callback puts them. Only
 * the search postings are made inside it (`writeSearchPostings` reads each term's last row to top it up):
 * string work on the batch's own positions.
 */
export class ReadModelProjection implements Projection {
  readonly name = 'readmodel';
  readonly #tables: GenerationTables;
  readonly #logger: Logger | undefined;
  #searchIndexReady: Promise<void> | null = null;

  constructor(options: ReadModelProjectionOptions) {
    this.#tables = options.store.tables(options.generation);
    this.#logger = options.logger;
  }

  get generation(): number {
    return this.#tables.generation;
  }

  async checkpoint(): Promise<string | null> {
    await this.#ensureSearchIndex();
    return this.#tables.checkpoints.get(READ_MODEL_CHECKPOINT) ?? null;
  }

  async apply(batch: readonly JobEvent[]): Promise<void> {
    await this.#ensureSearchIndex();
    const t = this.#tables;
    const checkpoint = t.checkpoints.get(READ_MODEL_CHECKPOINT) ?? null;
    const last = batch.at(-1);
    const next = last ? maxPosition(checkpoint, last.position) : checkpoint;
    if (next === checkpoint) return;
    const writes: (() => void)[] = [];
    const written: JobEvent[] = [];
    for (const [jobId, events] of groupByJob(batch, checkpoint))
      writes.push(...this.#jobWrites(jobId, events, written));
    const committed = await lmdbTransaction(t.checkpoints, () => {
      if ((t.checkpoints.get(READ_MODEL_CHECKPOINT) ?? null) !== checkpoint) return ABORT;
      for (const write of writes) write();
      writeSearchPostings(t, written);
      t.checkpoints.putSync(READ_MODEL_CHECKPOINT, next as string);
      if (!isSearchIndexed(t)) t.checkpoints.putSync(SEARCH_INDEX_MARKER, SEARCH_INDEX_VERSION);
      if (!isTimeIndexed(t)) t.checkpoints.putSync(TIME_INDEX_MARKER, TIME_INDEX_VERSION);
      return true;
    });
    if (committed !== true) throw new CheckpointConflictError(t.generation, checkpoint);
  }

  async close(): Promise<void> {}

  /**
   * A generation written before the search or time index existed is indexed once, before anything else is
   * applied.
   */
  #ensureSearchIndex(): Promise<void> {
    this.#searchIndexReady ??= (async () => {
      await backfillSearchIndex(this.#tables, this.#logger);
      await backfillTimeIndex(this.#tables, this.#logger);
    })().catch((error: unknown) => {
      this.#searchIndexReady = null;
      throw error;
    });
    return this.#searchIndexReady;
  }

  /**
   * The puts for one job's events in this batch, computed from the job's current rows; the events they
   * write are added to `written` (the batch's search postings).
   */
  #jobWrites(jobId: string, events: readonly JobEvent[], written: JobEvent[]): (() => void)[] {
    const t = this.#tables;
    const before: JobState = t.states.get(jobId) ?? initialState();
    const fresh = events.filter((e) => e.seq > before.seq);
    const lastEvent = fresh.at(-1);
    if (!lastEvent) return [];
    const state = fresh.reduce(evolve, before);
    const summary = toJobSummary(jobId, state, lastEvent);
    const previous = t.jobs.get(jobId);
    const writes: (() => void)[] = [];
    for (const e of fresh) {
      canonicalJson(e); // serialised outside the transaction
      writes.push(() => writeEventRows(t, e, SYNC_ROW_WRITER));
    }
    written.push(...fresh);
    writes.push(() => writeJobRows(t, jobId, state, summary, previous, SYNC_ROW_WRITER));
    return writes;
  }
}
export { createdKey, statusKey } from './readModelRows.ts';
