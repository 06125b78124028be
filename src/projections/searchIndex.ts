import type { Logger } from 'pino';
import type { JobEvent } from '../domain/events.ts';
import type { GenerationTables } from './readModelStore.ts';
import { READ_MODEL_CHECKPOINT } from './readModelStore.ts';

/** The event fields the search index covers; `job_id` has its own index (`job_positions`). */
export const SEARCH_FIELDS = ['type', 'stage', 'status', 'actor'] as const;
export type SearchField = (typeof SEARCH_FIELDS)[number];

/** Key in the generation's `checkpoints` table: present once every event of the generation is indexed. */
export const SEARCH_INDEX_MARKER = 'search_index';
export const SEARCH_INDEX_VERSION = '1';
/** Key in the same table: the padded position the backfill of an older generation has reached. */
const BACKFILL_PROGRESS = 'search_index_backfill';
const BACKFILL_CHUNK = 2000;

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

/**
 * Indexes the events of a generation written before the search index existed, in chunks (each chunk and
 * its progress in one transaction, so an interrupted backfill resumes where it stopped), then marks the
 * generation. A generation without any row needs nothing: its first batch writes the marker.
 */
export async function backfillSearchIndex(t: GenerationTables, logger?: Logger): Promise<void> {
  if (isSearchIndexed(t)) return;
  if (t.checkpoints.get(READ_MODEL_CHECKPOINT) === undefined) return;
  let from = t.checkpoints.get(BACKFILL_PROGRESS);
  logger?.info({ generation: t.generation, from: from ?? 'start' }, 'read model: indexing events for search');
  let indexed = 0;
  for (;;) {
    const rows: { key: [SearchField, string, string]; value: [string, number] }[] = [];
    let last: string | undefined;
    let count = 0;
    for (const { key, value } of t.positions.getRange({
      start: from ?? '',
      exclusiveStart: from !== undefined,
      limit: BACKFILL_CHUNK,
    })) {
      count++;
      last = key;
      const json = t.events.get([value[0], value[1]]);
      if (json === undefined) continue;
      const event = JSON.parse(json) as JobEvent;
      for (const k of searchIndexKeys(event, key)) rows.push({ key: k, value: [value[0], value[1]] });
    }
    const done = count < BACKFILL_CHUNK;
    await t.checkpoints.transaction(() => {
      for (const row of rows) t.eventsByField.putSync(row.key, row.value);
      if (done) {
        t.checkpoints.removeSync(BACKFILL_PROGRESS);
        t.checkpoints.putSync(SEARCH_INDEX_MARKER, SEARCH_INDEX_VERSION);
      } else if (last !== undefined) t.checkpoints.putSync(BACKFILL_PROGRESS, last);
    });
    indexed += count;
    if (done) break;
    from = last;
  }
  logger?.info({ generation: t.generation, events: indexed }, 'read model: search index ready');
}
