import { join } from 'node:path';
import type { Database, Key, RootDatabase, Transaction } from 'lmdb';
import { open } from 'lmdb';
import type { JobState } from '../domain/jobState.ts';
import { lmdbTransaction, lmdbWrite } from '../infra/lmdb/lmdbWrite.ts';
import { CheckpointStore } from './checkpointStore.ts';
import type { JobSummary } from './jobSummary.ts';
import type { PostingKey } from './searchIndex.ts';

/**
 * The tables of one generation of the read model, each an LMDB database named `g<N>:<table>`.
 *
 * | table            | key                               | value                                 |
 * |------------------|-----------------------------------|---------------------------------------|
 * | events           | [job_id, seq]                     | canonical JSON of the event (string)  |
 * | events_by_ts     | [job_id, ts, seq]                 | seq                                   |
 * | positions        | padded position (20 digits)       | [job_id, seq, type]                   |
 * | job_positions    | [job_id, padded position]         | [seq, type] (no longer written)       |
 * | jobs             | job_id                            | JobSummary                            |
 * | jobs_by_created  | [created_at or '', job_id]        | null                                  |
 * | jobs_by_status   | [status, created_at or '', job_id]| null                                  |
 * | states           | job_id                            | JobState (the folded state)           |
 * | search_postings  | [field, value, first position]    | padded positions, ascending (string)  |
 * | events_by_field  | [field, value, padded position]   | [job_id, seq] (first layout, emptied) |
 * | events_by_time   | [ts, padded position]             | [job_id, seq]                         |
 * | checkpoints      | 'readmodel', 'search_index'       | position; search index version        |
 *
 * `search_postings` is the search index (see `searchIndex.ts`): for each value of `type`, `stage`, `status`
 * and `actor`, the positions of its events in ascending order, a row per batch of at most 1,000, so a search
 * by any of them is a range scan in position order. `events_by_field` held the same as a row per event and
 * term; a generation of that layout is indexed again and the table emptied.
 * `events_by_time` is the global time index (see `readModelTimeIndex.ts`): `since` on the all-jobs stream
 * is one lookup in it instead of a scan of the log. `job_positions` is no longer written (decision 0017): a
 * job's events by position are read from `events`, where position grows with seq; older generations keep
 * their rows, which nothing reads and retention removes with the job.
 */
export interface GenerationTables {
  generation: number;
  events: Database<string, [string, number]>;
  eventsByTs: Database<number, [string, string, number]>;
  positions: Database<[string, number, string], string>;
  jobPositions: Database<[number, string], [string, string]>;
  jobs: Database<JobSummary, string>;
  jobsByCreated: Database<null, [string, string]>;
  jobsByStatus: Database<null, [string, string, string]>;
  states: Database<JobState, string>;
  searchPostings: Database<string, PostingKey>;
  /** The search index's first layout; empty once a generation is indexed in the current one. */
  eventsByField: Database<[string, number], [string, string, string]>;
  eventsByTime: Database<[string, number], [string, string]>;
  checkpoints: Database<string, string>;
}

export const READ_MODEL_CHECKPOINT = 'readmodel';
const GENERATION_KEY = 'generation';

/**
 * The read model's LMDB environment (`<data_dir>/readmodel`, separate from the event store's). It holds
 * the generations of the read model tables, a `meta` db whose `generation` key names the one readers use,
 * and a root `checkpoints` db for the file projections (`jsonl`, `state`). A rebuild fills generation N+1
 * while readers keep reading N, then flips `generation` in one transaction.
 */
export class ReadModelStore {
  readonly env: RootDatabase;
  readonly meta: Database<number, string>;
  static readonly GENERATION_KEY = GENERATION_KEY;
  /** Checkpoints of the projections that write files. */
  readonly checkpoints: CheckpointStore;
  readonly #tables = new Map<number, GenerationTables>();

  private constructor(readonly path: string) {
    this.env = open({ path, maxDbs: 64, encoding: 'json' });
    this.meta = this.env.openDB<number, string>('meta', { encoding: 'json' });
    this.checkpoints = new CheckpointStore(
      this.env.openDB<string, string>('checkpoints', { encoding: 'string' }),
    );
  }

  /** Opens (creating if needed) the env under `<dataDir>/readmodel`; generation 1 on a new env. */
  static open(dataDir: string): ReadModelStore {
    const store = new ReadModelStore(join(dataDir, 'readmodel'));
    if (store.meta.get(GENERATION_KEY) === undefined) store.meta.putSync(GENERATION_KEY, 1);
    return store;
  }

  /** The generation readers use; re-read per query (a cheap in-memory LMDB read). */
  generation(): number {
    return this.meta.get(GENERATION_KEY) ?? 1;
  }

  tables(generation: number = this.generation()): GenerationTables {
    let tables = this.#tables.get(generation);
    if (!tables) {
      const db = <V, K extends Key>(table: string, encoding: 'json' | 'string' = 'json') =>
        this.env.openDB<V, K>(`g${generation}:${table}`, { encoding });
      tables = {
        generation,
        events: db('events', 'string'),
        eventsByTs: db('events_by_ts'),
        positions: db('positions'),
        jobPositions: db('job_positions'),
        jobs: db('jobs'),
        jobsByCreated: db('jobs_by_created'),
        jobsByStatus: db('jobs_by_status'),
        states: db('states'),
        searchPostings: db('search_postings', 'string'),
        eventsByField: db('events_by_field'),
        eventsByTime: db('events_by_time'),
        checkpoints: db('checkpoints', 'string'),
      };
      this.#tables.set(generation, tables);
    }
    return tables;
  }

  /**
   * One read transaction over the generation readers use. Its tables are opened before the transaction
   * starts: LMDB does not let a transaction use a database opened after it began (a cursor fails with
   * EINVAL), which a generation flipped by another process (a rebuild) would otherwise be.
   */
  read<T>(read: (t: GenerationTables, transaction: Transaction) => T): T {
    for (;;) {
      let generation: number;
      const transaction = this.env.useReadTransaction();
      try {
        generation = this.meta.get(GENERATION_KEY, { transaction }) ?? 1;
        const tables = this.#tables.get(generation);
        if (tables) return read(tables, transaction);
      } finally {
        transaction.done();
      }
      this.tables(generation); // not opened yet: open it outside the transaction, then read again
    }
  }

  /** Makes `generation` the one readers use: one key, one transaction. */
  async activateGeneration(generation: number): Promise<void> {
    await lmdbWrite(this.meta, () => this.meta.put(GENERATION_KEY, generation));
  }

  /** Empties every table of a generation (e.g. an abandoned or superseded rebuild). */
  async clearGeneration(generation: number): Promise<void> {
    const t = this.tables(generation);
    await lmdbTransaction(this.env, () => {
      for (const db of tableList(t)) db.clearSync();
    });
  }

  async close(): Promise<void> {
    await this.env.close();
  }
}

function tableList(t: GenerationTables): Database<unknown, Key>[] {
  return [
    t.events,
    t.eventsByTs,
    t.positions,
    t.jobPositions,
    t.jobs,
    t.jobsByCreated,
    t.jobsByStatus,
    t.states,
    t.searchPostings,
    t.eventsByField,
    t.eventsByTime,
    t.checkpoints,
  ] as Database<unknown, Key>[];
}
