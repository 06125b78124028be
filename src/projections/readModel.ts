import type { Transaction } from 'lmdb';
import { OperatorError } from '../domain/errors.ts';
import type { JobState } from '../domain/jobState.ts';
import type { JobSummary } from './jobSummary.ts';
import { padPosition, unpadPosition } from './positions.ts';
import { headOf, jobEventsFromPosition, jobEventsPage } from './readModelJobEvents.ts';
import type {
  GlobalEventsFilter,
  GlobalEventsPage,
  JobEventsPage,
  JobEventsQuery,
  JobListPage,
  ListJobsQuery,
} from './readModelQueries.ts';
import type { GenerationTables } from './readModelStore.ts';
import { READ_MODEL_CHECKPOINT, ReadModelStore } from './readModelStore.ts';
import { firstPositionSince } from './readModelTimeIndex.ts';
import { nextPosition } from './searchJoin.ts';
import { isValidTs, normalizeTs } from './timestamps.ts';

/** An unreadable cursor or bound in a read model query (HTTP 400). */
export class InvalidQueryError extends OperatorError {
  constructor(code: string, message: string, details?: unknown) {
    super(code, message, 'invalid', details);
  }
}

export const isInvalidQueryError = (e: unknown): e is InvalidQueryError => e instanceof InvalidQueryError;

const MAX_KEY = '\uffff';
/** Entries a filtered global scan examines per call, whatever it finds. */
const SCAN_BUDGET = 10_000;

/**
 * Queries over the read model. Reads are synchronous (LMDB reads are memory-mapped lookups, a few µs);
 * each query runs in one read transaction, so it sees one consistent snapshot of one generation (the
 * generation key is re-read per query, so a rebuild's swap is seen at once). Safe to use from another
 * process than the runner's.
 */
export class ReadModel {
  constructor(readonly store: ReadModelStore) {}

  /** Opens the read model under `<dataDir>/readmodel` for queries only (e.g. from the CLI). */
  static open(dataDir: string): ReadModel {
    return new ReadModel(ReadModelStore.open(dataDir));
  }

  generation(): number {
    return this.store.generation();
  }

  /** The position of the last event the read model reflects, null before any. */
  checkpoint(): string | null {
    return this.#read((t, transaction) => t.checkpoints.get(READ_MODEL_CHECKPOINT, { transaction }) ?? null);
  }

  getJob(jobId: string): JobSummary | undefined {
    return this.#read((t, transaction) => t.jobs.get(jobId, { transaction }));
  }

  /** The whole folded state (stages, gates), as `state.json` holds it minus the file-only fields. */
  getJobState(jobId: string): JobState | undefined {
    return this.#read((t, transaction) => t.states.get(jobId, { transaction }));
  }

  /** seq of the job's last event, -1 when none. */
  head(jobId: string): number {
    return this.#read((t, transaction) => headOf(t, transaction, jobId));
  }

  listJobs(query: ListJobsQuery): JobListPage {
    const limit = pageSize(query.limit);
    const after = query.cursor === undefined ? null : decodeCursor(query.cursor);
    return this.#read((t, transaction) => {
      const keys: [string, string][] = [];
      if (query.status === undefined) {
        const range = t.jobsByCreated.getRange({
          start: after ?? [MAX_KEY],
          exclusiveStart: after !== null,
          reverse: true,
          limit: limit + 1,
          transaction,
        });
        for (const { key } of range) keys.push(key);
      } else {
        const status = query.status;
        const range = t.jobsByStatus.getRange({
          start: after ? [status, ...after] : [status, MAX_KEY],
          end: [status],
          exclusiveStart: after !== null,
          reverse: true,
          limit: limit + 1,
          transaction,
        });
        for (const { key } of range) keys.push([key[1], key[2]]);
      }
      const page = keys.slice(0, limit);
      const jobs = page.flatMap(([, jobId]) => t.jobs.get(jobId, { transaction }) ?? []);
      const lastKey = page.at(-1);
      return { jobs, next_cursor: keys.length > limit && lastKey ? encodeCursor(lastKey) : null };
    });
  }

  /**
   * A job's events, chronological: after the `after` seq, or from the first with `ts >= since`, or
   * (neither) the latest `limit`. `since` assumes a job's `ts` never go backwards (the decider stamps
   * them in order); it starts at the earliest event at or after `since` and then follows seq.
   */
  jobEvents(jobId: string, query: JobEventsQuery): JobEventsPage {
    const checked = checkedJobEventsQuery(query);
    return this.#read((t, transaction) =>
      jobEventsPage(t, transaction, jobId, checked, pageSize(query.limit)),
    );
  }

  /**
   * `jobEvents` of a job the read model has a row for, read in the same snapshot as that row; undefined
   * for a job it does not know (one read transaction where `getJob` then `jobEvents` took two).
   */
  knownJobEvents(jobId: string, query: JobEventsQuery): JobEventsPage | undefined {
    return this.#read((t, transaction) => {
      if (!hasJob(t, transaction, jobId)) return undefined;
      const checked = checkedJobEventsQuery(query);
      return jobEventsPage(t, transaction, jobId, checked, pageSize(query.limit));
    });
  }

  /**
   * Where the all-jobs stream starts for `since`: the position of the earliest event (by time) at or after
   * it, or null when every event the read model holds is older; with the read model's checkpoint, read in
   * the same snapshot. One lookup in the time index: the cost does not grow with the log.
   */
  positionSince(since: string): { first: string | null; checkpoint: string | null } {
    if (!isValidTs(since))
      throw new InvalidQueryError('invalid_since', 'since must be an ISO date-time', { since });
    return this.#read((t, transaction) => ({
      first: firstPositionSince(t, transaction, normalizeTs(since)),
      checkpoint: t.checkpoints.get(READ_MODEL_CHECKPOINT, { transaction }) ?? null,
    }));
  }

  /** Events of every job (or of `filter.jobId`) after a global position, in position order. */
  eventsAfterPosition(
    after: string | null,
    limit: number,
    filter: GlobalEventsFilter = {},
  ): GlobalEventsPage {
    const size = pageSize(limit);
    if (after !== null && !/^\d+$/.test(after))
      throw new InvalidQueryError('invalid_after', 'after must be a decimal position', { after });
    const types = filter.types && filter.types.length > 0 ? new Set(filter.types) : null;
    return this.#read((t, transaction) => {
      const events: string[] = [];
      let lastExamined: string | null = null;
      let examined = 0;
      // `json`: the event's row when the caller has read it already (a job's events are read from `events`).
      const take = (position: string, jobId: string, seq: number, type: string, json?: string): boolean => {
        lastExamined = position;
        examined++;
        if (!types || types.has(type)) {
          const row = json ?? t.events.get([jobId, seq], { transaction });
          if (row !== undefined) events.push(row);
        }
        return events.length < size && examined < Math.max(SCAN_BUDGET, size);
      };
      if (filter.jobId !== undefined) {
        const jobId = filter.jobId;
        const from = after === null ? '' : nextPosition(padPosition(after));
        for (const e of jobEventsFromPosition(t, transaction, jobId, from))
          if (!take(e.position, jobId, e.seq, e.type, e.json)) break;
      } else {
        const range = t.positions.getRange({
          start: after === null ? '' : padPosition(after),
          exclusiveStart: after !== null,
          transaction,
        });
        for (const { key, value } of range) if (!take(key, value[0], value[1], value[2])) break;
      }
      const examinedPosition = lastExamined as string | null;
      return { events, next_after: examinedPosition === null ? after : unpadPosition(examinedPosition) };
    });
  }

  async close(): Promise<void> {
    await this.store.close();
  }

  #read<T>(query: (tables: GenerationTables, transaction: Transaction) => T): T {
    return this.store.read(query);
  }
}

/** Whether the jobs table has a row for the job, without decoding it (lmdb: no value means any value). */
const hasJob = (t: GenerationTables, transaction: Transaction, jobId: string): boolean =>
  t.jobs.doesExist(jobId, undefined as unknown as JobSummary, { transaction });

/** The query with `since` normalised; an unreadable cursor or bound is an `InvalidQueryError`. */
function checkedJobEventsQuery(query: JobEventsQuery): JobEventsQuery {
  if (query.after !== undefined && (!Number.isInteger(query.after) || query.after < -1))
    throw new InvalidQueryError('invalid_after', 'after must be an integer seq >= -1', {
      after: query.after,
    });
  if (query.after !== undefined || query.since === undefined) return query;
  if (!isValidTs(query.since))
    throw new InvalidQueryError('invalid_since', 'since must be an ISO date-time', { since: query.since });
  return { ...query, since: normalizeTs(query.since) };
}

/** At least 1 (an LMDB range with `limit: 0` is not empty). */
function pageSize(limit: number): number {
  if (!Number.isFinite(limit) || limit < 1) return 1;
  return Math.floor(limit);
}

function encodeCursor(key: [string, string]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(key) && key.length === 2 && key.every((k) => typeof k === 'string'))
      return key as [string, string];
  } catch {
    // reported below
  }
  throw new InvalidQueryError('invalid_cursor', 'cursor is not one this server returned', { cursor });
}
