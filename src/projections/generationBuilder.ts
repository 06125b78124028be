import type { JobEvent } from '../domain/events.ts';
import { evolve, initialState } from '../domain/jobDecider.ts';
import type { JobState } from '../domain/jobState.ts';
import { lmdbTransaction } from '../infra/lmdb/lmdbWrite.ts';
import { LruMap } from '../infra/lruMap.ts';
import { groupByJob } from './groupByJob.ts';
import type { JobSummary } from './jobSummary.ts';
import { toJobSummary } from './jobSummary.ts';
import { maxPosition } from './positions.ts';
import type { Projection } from './projection.ts';
import type { RowWriter } from './readModelRows.ts';
import { appendingRowWriter, writeEventRows, writeJobRows } from './readModelRows.ts';
import type { GenerationTables, ReadModelStore } from './readModelStore.ts';
import { READ_MODEL_CHECKPOINT } from './readModelStore.ts';
import { TIME_INDEX_MARKER, TIME_INDEX_VERSION } from './readModelTimeIndex.ts';
import { SEARCH_INDEX_MARKER, SEARCH_INDEX_VERSION, writeSearchPostings } from './searchIndex.ts';

export interface GenerationBuilderOptions {
  store: ReadModelStore;
  /** The generation filled; it must be empty and not the one readers use. */
  generation: number;
  /** Jobs whose state and summary are kept in memory; others are read back from the rows. Default 2,000. */
  cacheSize?: number;
}

/** What the caller of `apply` may already have for a batch, so that the builder need not compute it. */
export interface KnownForBatch {
  /** Each event's canonical JSON (else serialised here). */
  texts?: ReadonlyMap<JobEvent, string>;
  /** Jobs' states after the batch's events (a rebuild's state files fold them too); others are folded here. */
  states?: ReadonlyMap<string, JobState>;
}

interface JobRows {
  state: JobState;
  summary: JobSummary | undefined;
}

/**
 * Fills a fresh read model generation from the log, for a rebuild: the same rows as `ReadModelProjection`
 * (`readModelRows.ts`), one transaction per batch (a rebuild's batches are large), whose commit and sync
 * run on lmdb-js's write thread while this thread reads and projects the next batch; at most one batch is in
 * flight, so memory stays bounded. Nobody reads the generation before the rebuild flips it, so a batch need
 * not be durable when `apply` returns: `flush()` waits for all of them, once, before the flip. An
 * interrupted build leaves a generation that the next rebuild empties first.
 */
export class GenerationBuilder implements Projection {
  readonly name = 'readmodel';
  readonly #tables: GenerationTables;
  readonly #store: ReadModelStore;
  /** The last rows written of recent jobs: most batches then read no row back. */
  readonly #jobs: LruMap<string, JobRows>;
  readonly #rows: RowWriter = appendingRowWriter();
  #checkpoint: string | null = null;
  #inFlight: Promise<unknown> = Promise.resolve();
  #first = true;

  constructor(options: GenerationBuilderOptions) {
    this.#store = options.store;
    this.#tables = options.store.tables(options.generation);
    this.#jobs = new LruMap(options.cacheSize ?? 2000);
  }

  get generation(): number {
    return this.#tables.generation;
  }

  async checkpoint(): Promise<string | null> {
    return this.#checkpoint;
  }

  async apply(batch: readonly JobEvent[], known: KnownForBatch = {}): Promise<void> {
    const last = batch.at(-1);
    if (!last) return;
    await this.#inFlight;
    const t = this.#tables;
    const byJob = groupByJob(batch, this.#checkpoint);
    const checkpoint = maxPosition(this.#checkpoint, last.position) as string;
    this.#checkpoint = checkpoint;
    const first = this.#first;
    this.#first = false;
    // The callback runs in the write transaction (rows read in it include its own writes); it only computes
    // and puts, and a throw fails the rebuild, whose generation is emptied by the next one.
    this.#inFlight = lmdbTransaction(t.checkpoints, () => {
      if (first) {
        // Indexed as it is written: no backfill will be needed once it is active.
        t.checkpoints.putSync(SEARCH_INDEX_MARKER, SEARCH_INDEX_VERSION);
        t.checkpoints.putSync(TIME_INDEX_MARKER, TIME_INDEX_VERSION);
      }
      const written: JobEvent[] = [];
      for (const [jobId, events] of byJob) this.#writeJob(jobId, events, known, written);
      writeSearchPostings(t, written);
      t.checkpoints.putSync(READ_MODEL_CHECKPOINT, checkpoint);
    });
    // Handled now, thrown by the next `apply` or `flush`: a failed commit must not wait there unhandled.
    this.#inFlight.catch(() => {});
  }

  /** Resolves once every batch applied so far is committed and on disk. */
  async flush(): Promise<void> {
    await this.#inFlight;
    await this.#store.env.flushed;
  }

  async close(): Promise<void> {
    await this.#inFlight.catch(() => {});
    this.#jobs.clear();
  }

  /** Writes a job's rows for its events in the batch; the events written are added to `written`. */
  #writeJob(jobId: string, events: readonly JobEvent[], known: KnownForBatch, written: JobEvent[]): void {
    const t = this.#tables;
    const before = this.#jobs.get(jobId) ?? {
      state: t.states.get(jobId) ?? initialState(),
      summary: t.jobs.get(jobId),
    };
    const fresh = eventsAfter(events, before.state.seq);
    const lastEvent = fresh.at(-1);
    if (!lastEvent) return;
    let state = known.states?.get(jobId);
    if (state === undefined || !isFoldOf(state, before.state, fresh)) {
      state = before.state;
      for (const e of fresh) state = evolve(state, e);
    }
    for (const e of fresh) writeEventRows(t, e, this.#rows, known.texts?.get(e));
    written.push(...fresh);
    const summary = toJobSummary(jobId, state, lastEvent);
    writeJobRows(t, jobId, state, summary, before.summary, this.#rows);
    this.#jobs.set(jobId, { state, summary });
  }
}

/** The events whose seq is above `seq` and above every seq before them (a replayed event is skipped). */
function eventsAfter(events: readonly JobEvent[], seq: number): JobEvent[] {
  const out: JobEvent[] = [];
  let last = seq;
  for (const e of events) {
    if (e.seq <= last) continue;
    out.push(e);
    last = e.seq;
  }
  return out;
}

/**
 * Whether a state given for a job's batch is the fold of `fresh` onto `before`, as far as the ways a state
 * file's copy can differ: its seq, and its `job_id`, which a state file carries even when no `job_created`
 * set it (a file read back holds the job's id where the fold still has null).
 */
function isFoldOf(given: JobState, before: JobState, fresh: readonly JobEvent[]): boolean {
  const last = fresh.at(-1);
  if (!last || given.seq !== last.seq) return false;
  const jobId = fresh.some((e) => e.type === 'job_created') ? last.job_id : before.job_id;
  return given.job_id === jobId;
}
