import type { Transaction } from 'lmdb';
import { OperatorError } from '../domain/errors.ts';
import type { JobEvent } from '../domain/events.ts';
import { padPosition, unpadPosition } from './positions.ts';
import { InvalidQueryError } from './readModel.ts';
import { jobEventsFromPosition } from './readModelJobEvents.ts';
import type { GenerationTables } from './readModelStore.ts';
import { READ_MODEL_CHECKPOINT, ReadModelStore } from './readModelStore.ts';
import type { SearchField } from './searchIndex.ts';
import { isSearchIndexed, TermSource } from './searchIndex.ts';
import type { Source } from './searchJoin.ts';
import { Budget, IndexSource, intersection, mapIterator, nextPosition, unionOf } from './searchJoin.ts';
import { isValidTs, normalizeTs } from './timestamps.ts';

export interface EventSearchQuery {
  /** Any of these types (an empty list means any type). */
  types?: readonly string[];
  stage?: string;
  status?: string;
  jobId?: string;
  actor?: string;
  /** Case-insensitive substring of the message. */
  q?: string;
  /** ISO time, inclusive: events with `ts >= from`. */
  from?: string;
  /** ISO time, exclusive: events with `ts < to`. */
  to?: string;
  limit: number;
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

export interface EventSearchPage {
  /** Canonical JSON of each matching event, in position order. */
  events: string[];
  /**
   * Pass as `cursor` for the next page; null once everything up to the end of the log was examined. A page
   * may hold fewer than `limit` events (even none) and still have a cursor: each call examines a bounded
   * number of entries, so a rare match never makes one call walk the whole log.
   */
  next_cursor: string | null;
}

export interface EventSearchOptions {
  /** Index entries and events one call examines at most. Default 5000. */
  scanBudget?: number;
}

/** Events a job's source steps through before it searches its rows again (see `IndexSource`). */
const JOB_STEPS_BEFORE_SEEK = 32;

/** The read model's search index is still being built from an older generation (HTTP 503). */
export class SearchIndexBuildingError extends OperatorError {
  constructor(generation: number) {
    super(
      'search_index_building',
      `the search index of read model generation ${generation} is being built; retry shortly`,
      'unavailable',
    );
  }
}

/**
 * `GET /events/search` over the read model: equality filters (type, stage, status, actor, job) are served by
 * indexes joined in position order; `q`, `from` and `to` are checked on each candidate event. Results are in
 * position order, paged by an opaque cursor that is a position, so pages are stable while the log grows.
 */
export class EventSearch {
  readonly #scanBudget: number;

  constructor(
    readonly store: ReadModelStore,
    options: EventSearchOptions = {},
  ) {
    this.#scanBudget = Math.max(1, options.scanBudget ?? 5000);
  }

  static open(dataDir: string, options?: EventSearchOptions): EventSearch {
    return new EventSearch(ReadModelStore.open(dataDir), options);
  }

  search(query: EventSearchQuery): EventSearchPage {
    const limit = Number.isFinite(query.limit) && query.limit >= 1 ? Math.floor(query.limit) : 1;
    const from = query.cursor === undefined ? '' : decodeSearchCursor(query.cursor);
    const matches = eventPredicate(query);
    return this.#read((t, transaction) => {
      const budget = new Budget(this.#scanBudget);
      const sources = indexSources(t, transaction, query, budget);
      const events: string[] = [];
      try {
        const hits = intersection(sources, from, budget);
        let step = hits.next();
        while (!step.done) {
          const hit = step.value;
          budget.spend();
          const ref: readonly [string, number, ...unknown[]] | undefined =
            hit.jobId === undefined || hit.seq === undefined
              ? t.positions.get(hit.position, { transaction })
              : [hit.jobId, hit.seq];
          const json = ref === undefined ? undefined : t.events.get([ref[0], ref[1]], { transaction });
          if (json !== undefined && matches(JSON.parse(json) as JobEvent)) {
            events.push(json);
            if (events.length >= limit)
              return { events, next_cursor: encodeSearchCursor(nextPosition(hit.position)) };
          }
          step = hits.next();
        }
        const resume = step.value;
        return { events, next_cursor: resume === null ? null : encodeSearchCursor(resume) };
      } finally {
        for (const s of sources) s.close();
      }
    });
  }

  #read<T>(query: (tables: GenerationTables, transaction: Transaction) => T): T {
    return this.store.read((t, transaction) => {
      if (!isSearchIndexed(t) && t.checkpoints.get(READ_MODEL_CHECKPOINT, { transaction }) !== undefined)
        throw new SearchIndexBuildingError(t.generation);
      return query(t, transaction);
    });
  }
}

/** One source per equality filter (the types of `types` joined as a union), or every position. */
function indexSources(
  t: GenerationTables,
  transaction: Transaction,
  query: EventSearchQuery,
  budget: Budget,
): Source[] {
  const sources: Source[] = [];
  const byField = (field: SearchField, value: string): Source =>
    new TermSource(t, transaction, field, value, budget);
  const types = [...new Set(query.types ?? [])];
  if (types.length === 1) sources.push(byField('type', types[0] as string));
  else if (types.length > 1) sources.push(unionOf(types.map((type) => byField('type', type))));
  if (query.stage !== undefined) sources.push(byField('stage', query.stage));
  if (query.status !== undefined) sources.push(byField('status', query.status));
  if (query.actor !== undefined) sources.push(byField('actor', query.actor));
  if (query.jobId !== undefined) {
    const jobId = query.jobId;
    sources.push(
      // A job's rows are read in order from a binary search over seq: stepping through a few of them costs
      // less than a search again.
      new IndexSource(
        (from) =>
          mapIterator(jobEventsFromPosition(t, transaction, jobId, from), (e) => ({
            position: e.position,
            jobId,
            seq: e.seq,
          })),
        budget,
        JOB_STEPS_BEFORE_SEEK,
      ),
    );
  }
  if (sources.length === 0)
    sources.push(
      new IndexSource((from) => {
        const range = t.positions.getRange({ start: from, transaction });
        return mapIterator(range[Symbol.iterator](), ({ key, value }) => ({
          position: key,
          jobId: value[0],
          seq: value[1],
        }));
      }, budget),
    );
  return sources;
}

/** Every filter of the query on the whole event: the indexes only narrow the candidates. */
export function eventPredicate(query: Omit<EventSearchQuery, 'limit' | 'cursor'>): (e: JobEvent) => boolean {
  if (query.from !== undefined && !isValidTs(query.from))
    throw new InvalidQueryError('invalid_from', 'from must be an ISO date-time', { from: query.from });
  if (query.to !== undefined && !isValidTs(query.to))
    throw new InvalidQueryError('invalid_to', 'to must be an ISO date-time', { to: query.to });
  const types = query.types && query.types.length > 0 ? new Set(query.types) : null;
  const from = query.from === undefined ? null : normalizeTs(query.from);
  const to = query.to === undefined ? null : normalizeTs(query.to);
  const needle = query.q === undefined || query.q === '' ? null : query.q.toLowerCase();
  return (e) =>
    (types === null || types.has(e.type)) &&
    (query.stage === undefined || e.stage === query.stage) &&
    (query.status === undefined || e.status === query.status) &&
    (query.actor === undefined || e.actor === query.actor) &&
    (query.jobId === undefined || e.job_id === query.jobId) &&
    (from === null || normalizeTs(e.ts) >= from) &&
    (to === null || normalizeTs(e.ts) < to) &&
    (needle === null || e.message.toLowerCase().includes(needle));
}

const CURSOR_PREFIX = 's1:';

function encodeSearchCursor(padded: string): string {
  return Buffer.from(`${CURSOR_PREFIX}${unpadPosition(padded)}`).toString('base64url');
}

/** The padded position a cursor resumes from (inclusive). */
function decodeSearchCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const position = text.startsWith(CURSOR_PREFIX) ? text.slice(CURSOR_PREFIX.length) : '';
  if (!/^\d{1,20}$/.test(position))
    throw new InvalidQueryError('invalid_cursor', 'cursor is not one this server returned', { cursor });
  return padPosition(position);
}
