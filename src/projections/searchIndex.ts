import type { Transaction } from 'lmdb';
import type { Logger } from 'pino';
import type { JobEvent } from '../domain/events.ts';
import type { IndexBackfill } from './backfillIndex.ts';
import { backfillIndex } from './backfillIndex.ts';
import { padPosition } from './positions.ts';
import type { GenerationTables } from './readModelStore.ts';
import type { Budget, Hit, Source } from './searchJoin.ts';

/** The event fields the search index covers; a job's events are found by `job_id` in `events`. */
export const SEARCH_FIELDS = ['type', 'stage', 'status', 'actor'] as const;
export type SearchField = (typeof SEARCH_FIELDS)[number];

/** Key in the generation's `checkpoints` table: present once every event of the generation is indexed. */
export const SEARCH_INDEX_MARKER = 'search_index';
/**
 * `2`: posting lists in `search_postings`. `1` was a row per event and term in `events_by_field`; a
 * generation marked `1` is indexed again (and its old rows dropped) like one without an index.
 */
export const SEARCH_INDEX_VERSION = '2';
/** Key in the same table: the padded position the backfill of an older generation has reached. */
const BACKFILL_PROGRESS = 'search_index_backfill';

/**
 * LMDB keys are limited to about 2 KB, so a long value (an actor is free text) is indexed by its first
 * characters; a search re-checks the full value of every candidate, so the cut costs a few extra reads only.
 */
const MAX_INDEXED_CHARS = 200;
/** Padded positions are 20 digits (`padPosition`): a posting list is their concatenation. */
const WIDTH = 20;
/** Positions in one `search_postings` row at most, so that a search never decodes more to seek in it. */
export const POSTINGS_PER_ROW = 1000;
const MAX_KEY = '\uffff';

/** `search_postings` key: a term, then the first position of the row's list. */
export type PostingKey = [field: SearchField, value: string, firstPosition: string];
/** One event under one term, for removal: the term and the event's padded position. */
export type Posting = PostingKey;

export function indexValue(value: string): string {
  return value.length > MAX_INDEXED_CHARS ? value.slice(0, MAX_INDEXED_CHARS) : value;
}

/** The terms (field, indexed value) one event is found by. */
export function searchTerms(event: Pick<JobEvent, SearchField>): [SearchField, string][] {
  const terms: [SearchField, string][] = [];
  for (const field of SEARCH_FIELDS) {
    const value = event[field];
    if (typeof value === 'string') terms.push([field, indexValue(value)]);
  }
  return terms;
}

/**
 * Adds events to the search index: per term, the padded positions of its events in ascending order, as rows
 * of at most `POSTINGS_PER_ROW` positions keyed by their first. A batch of 10,000 events makes a few dozen
 * rows instead of a row per event and term; a small last row of a term (under `TOP_UP_BELOW`) is topped up
 * first, so one-event live batches share rows too. Every event must be above every position already indexed (a
 * projection's batches come in log order), so rows never overlap and a term's rows are in position order.
 * Runs inside the caller's write transaction.
 */
export function writeSearchPostings(t: GenerationTables, events: Iterable<JobEvent>): void {
  for (const { field, value, positions } of termPositions(events).lists()) {
    let from = 0;
    // A live batch is often one event: topping up the term's last small row keeps the index at a row per
    // few dozen events and terms, not one per event and term.
    const last = rowHolding(t, field, value, MAX_KEY);
    if (
      last &&
      last.list.length < TOP_UP_BELOW * WIDTH &&
      last.list.slice(-WIDTH) < (positions[0] as string)
    ) {
      from = Math.min(positions.length, POSTINGS_PER_ROW - last.list.length / WIDTH);
      t.searchPostings.putSync(last.key, last.list + positions.slice(0, from).join(''));
    }
    for (let i = from; i < positions.length; i += POSTINGS_PER_ROW) {
      const row = positions.slice(i, i + POSTINGS_PER_ROW);
      t.searchPostings.putSync([field, value, row[0] as string], row.join(''));
    }
  }
}

/**
 * A term's last row is topped up by the next batch while it holds fewer positions than this: small enough
 * that reading and rewriting it for a one-event batch stays cheap (under 1,280 bytes, within an LMDB leaf
 * page rather than overflow pages).
 */
const TOP_UP_BELOW = 64;

/** Positions gathered per term; `lists()` gives each term's in ascending order. */
class TermPositions {
  readonly #lists = new Map<
    string,
    { field: SearchField; value: string; positions: string[]; sorted: boolean }
  >();

  add(field: SearchField, value: string, position: string): void {
    const id = `${field}\u0000${value}`;
    const list = this.#lists.get(id);
    if (!list) {
      this.#lists.set(id, { field, value, positions: [position], sorted: true });
      return;
    }
    if ((list.positions.at(-1) as string) >= position) list.sorted = false;
    list.positions.push(position);
  }

  *lists(): Generator<{ field: SearchField; value: string; positions: string[] }> {
    for (const list of this.#lists.values()) {
      if (!list.sorted) list.positions.sort();
      list.sorted = true;
      yield list;
    }
  }
}

/** The batch's positions by term (indexed value), each term's ascending. */
function termPositions(events: Iterable<JobEvent>): TermPositions {
  const terms = new TermPositions();
  for (const e of events) {
    const position = padPosition(e.position);
    for (const field of SEARCH_FIELDS) {
      const raw = e[field];
      if (typeof raw === 'string') terms.add(field, indexValue(raw), position);
    }
  }
  return terms;
}

/**
 * Removes postings from the search index, inside the caller's write transaction (whose reads see its own
 * writes): the positions a row holds leave it in one rewrite (a job's events share a few rows per term), and
 * a row left empty goes. A posting not indexed is skipped.
 */
export function removeSearchPostings(t: GenerationTables, postings: readonly Posting[]): void {
  const terms = new TermPositions();
  for (const [field, value, position] of postings) terms.add(field, value, position);
  for (const { field, value, positions } of terms.lists()) {
    let i = 0;
    while (i < positions.length) {
      const row = rowHolding(t, field, value, positions[i] as string);
      const last = row?.list.slice(-WIDTH);
      // No row starts at or below it, or the row that does ends below it: not indexed.
      if (!row || last === undefined || (positions[i] as string) > last) {
        i++;
        continue;
      }
      const leaving = new Set<string>();
      while (i < positions.length && (positions[i] as string) <= last) leaving.add(positions[i++] as string);
      let rest = '';
      for (let at = 0; at < row.list.length; at += WIDTH) {
        const held = row.list.slice(at, at + WIDTH);
        if (!leaving.has(held)) rest += held;
      }
      if (rest === row.list) continue;
      if (rest === '') t.searchPostings.removeSync(row.key);
      else t.searchPostings.putSync(row.key, rest);
    }
  }
}

/** The row whose list would hold `position`: the last one of the term starting at or below it. */
function rowHolding(
  t: GenerationTables,
  field: SearchField,
  value: string,
  position: string,
  transaction?: Transaction,
): { key: PostingKey; list: string } | undefined {
  for (const { key, value: list } of t.searchPostings.getRange({
    start: [field, value, position],
    end: [field, value, ''],
    reverse: true,
    limit: 1,
    transaction,
  }))
    return { key, list };
  return undefined;
}

/** Whether the index holds the event at `position` (padded) under the term (`value` as indexed). */
export function postingHolds(
  t: GenerationTables,
  field: SearchField,
  value: string,
  position: string,
  transaction?: Transaction,
): boolean {
  const row = rowHolding(t, field, value, position, transaction);
  if (!row) return false;
  const index = lowerBound(row.list, position);
  return row.list.slice(index * WIDTH, (index + 1) * WIDTH) === position;
}

/**
 * The positions of a `search_postings` row, or why the row is malformed: a list whose length is not a
 * multiple of the width, positions not strictly ascending, or a first position below the key's.
 */
export function postingRowPositions(key: PostingKey, list: string): string[] | string {
  if (list.length === 0 || list.length % WIDTH !== 0)
    return `a list of ${list.length} characters, not 20-digit positions`;
  const positions: string[] = [];
  for (let i = 0; i < list.length; i += WIDTH) {
    const position = list.slice(i, i + WIDTH);
    if (!/^\d{20}$/.test(position)) return `"${position}" is not a 20-digit position`;
    if (positions.length > 0 && position <= (positions.at(-1) as string))
      return `positions not ascending at ${position}`;
    positions.push(position);
  }
  // Above it once retention removed the row's first position (the row keeps its key).
  if ((positions[0] as string) < key[2])
    return `its first position ${positions[0]} is below the key's ${key[2]}`;
  return positions;
}

/** Index of the first position in `list` at or above `position` (the list is sorted, fixed width). */
function lowerBound(list: string, position: string, from = 0): number {
  let lo = from;
  let hi = list.length / WIDTH;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list.slice(mid * WIDTH, (mid + 1) * WIDTH) < position) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A term's positions as a source of the search's join (`searchJoin.ts`): a seek to a position inside the
 * row already read is a binary search in it, so a dense term joined with a sparse one costs no index lookup
 * per jump; a seek past the row reads the term's rows again from the one that may hold the target.
 */
export class TermSource implements Source {
  readonly #open: (from: string) => Iterator<{ value: string }>;
  readonly #budget: Budget;
  #rows: Iterator<{ value: string }> | null = null;
  /** The row read last, and the index in it of the head. */
  #row = '';
  #index = 0;
  #head: Hit | null = null;
  #opened = false;

  constructor(
    t: GenerationTables,
    transaction: Transaction,
    field: SearchField,
    value: string,
    budget: Budget,
  ) {
    const v = indexValue(value);
    this.#budget = budget;
    this.#open = (from) => {
      const first = rowHolding(t, field, v, from, transaction);
      return t.searchPostings
        .getRange({ start: first ? first.key : [field, v, from], end: [field, v, MAX_KEY], transaction })
        [Symbol.iterator]();
    };
  }

  seek(target: string): Hit | null {
    if (this.#opened && (this.#head === null || this.#head.position >= target)) return this.#head;
    this.#budget.spend();
    if (this.#opened && this.#row.length > 0 && target <= this.#row.slice(-WIDTH))
      return this.#at(lowerBound(this.#row, target, this.#index));
    this.#rows?.return?.();
    this.#rows = this.#open(target);
    this.#opened = true;
    for (;;) {
      const next = this.#rows.next();
      if (next.done) {
        this.#row = '';
        this.#head = null;
        return null;
      }
      this.#row = next.value.value;
      const index = lowerBound(this.#row, target);
      if (index < this.#row.length / WIDTH) return this.#at(index);
    }
  }

  close(): void {
    this.#rows?.return?.();
  }

  #at(index: number): Hit {
    this.#index = index;
    this.#head = { position: this.#row.slice(index * WIDTH, (index + 1) * WIDTH) };
    return this.#head;
  }
}

export function isSearchIndexed(t: GenerationTables, transaction?: Transaction): boolean {
  return t.checkpoints.get(SEARCH_INDEX_MARKER, { transaction }) === SEARCH_INDEX_VERSION;
}

/**
 * The search index as a backfill: older generations get their rows (see `backfillIndex`), and a generation
 * of the first layout loses its `events_by_field` rows once the postings are complete.
 */
const SEARCH_INDEX: IndexBackfill = {
  name: 'search',
  marker: SEARCH_INDEX_MARKER,
  version: SEARCH_INDEX_VERSION,
  progress: BACKFILL_PROGRESS,
  write: (t, events) => writeSearchPostings(t, events),
  done: (t) => t.eventsByField.clearSync(),
};

export const backfillSearchIndex = (t: GenerationTables, logger?: Logger): Promise<void> =>
  backfillIndex(t, SEARCH_INDEX, logger);
