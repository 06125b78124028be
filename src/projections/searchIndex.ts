import type { Logger } from 'pino';
import type { JobEvent } from '../domain/events.ts';
import type { IndexBackfill } from './backfillIndex.ts';
import { backfillIndex } from './backfillIndex.ts';
import type { GenerationTables } from './readModelStore.ts';

/** The event fields the search index covers; `job_id` has its own index (`job_positions`). */
export const SEARCH_FIELDS = ['type', 'stage', 'status', 'actor'] as const;
export type SearchField = (typeof SEARCH_FIELDS)[number];

/** Key in the generation's `checkpoints` table: present once every event of the generation is indexed. */
export const SEARCH_INDEX_MARKER = 'search_index';
export const SEARCH_INDEX_VERSION = '1';
/** Key in the same table: the padded position the backfill of an older generation has reached. */
const BACKFILL_PROGRESS = 'search_index_backfill';

/**
 * LMDB keys are limited to about 2 KB, so a long value (an actor is free text) is indexed by its first
 * characters; a search re-checks the full value of every candidate, so the cut costs a few extra reads only.
 */
const MAX_INDEXED_CHARS = 200;

export function indexValue(value: string): string {
  return value.length > MAX_INDEXED_CHARS ? value.slice(0, MAX_INDEXED_CHARS) : value;
}

/** The `events_by_field` keys of one event. */
export function searchIndexKeys(
  event: Pick<JobEvent, SearchField>,
  paddedPosition: string,
): [SearchField, string, string][] {
  const keys: [SearchField, string, string][] = [];
  for (const field of SEARCH_FIELDS) {
    const value = event[field];
    if (typeof value === 'string') keys.push([field, indexValue(value), paddedPosition]);
  }
  return keys;
}

/** The `events_by_field` keys of every event of a job in a generation (to remove the job's rows). */
export function jobSearchIndexKeys(t: GenerationTables, jobId: string): [SearchField, string, string][] {
  const keys: [SearchField, string, string][] = [];
  for (const { key, value } of t.jobPositions.getRange({ start: [jobId, ''], end: [jobId, '\uffff'] })) {
    const json = t.events.get([jobId, value[0]]);
    if (json !== undefined) keys.push(...searchIndexKeys(JSON.parse(json) as JobEvent, key[1]));
  }
  return keys;
}

export function isSearchIndexed(t: GenerationTables): boolean {
  return t.checkpoints.get(SEARCH_INDEX_MARKER) === SEARCH_INDEX_VERSION;
}

/** The search index as a backfill: older generations get their rows (see `backfillIndex`). */
const SEARCH_INDEX: IndexBackfill<[SearchField, string, string]> = {
  name: 'search',
  marker: SEARCH_INDEX_MARKER,
  version: SEARCH_INDEX_VERSION,
  progress: BACKFILL_PROGRESS,
  keysOf: (event, paddedPosition) => searchIndexKeys(event, paddedPosition),
  put: (t, key, value) => t.eventsByField.putSync(key, value),
};

export const backfillSearchIndex = (t: GenerationTables, logger?: Logger): Promise<void> =>
  backfillIndex(t, SEARCH_INDEX, logger);
