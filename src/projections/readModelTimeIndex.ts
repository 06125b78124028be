import type { Transaction } from 'lmdb';
import type { Logger } from 'pino';
import type { JobEvent } from '../domain/events.ts';
import { unpadPosition } from './positions.ts';
import type { GenerationTables } from './readModelStore.ts';
import { READ_MODEL_CHECKPOINT } from './readModelStore.ts';
import { normalizeTs } from './timestamps.ts';

/** Key in the generation's `checkpoints` table: present once every event of the generation has its time row. */
export const TIME_INDEX_MARKER = 'time_index';
export const TIME_INDEX_VERSION = '1';
/** Key in the same table: the padded position the backfill of an older generation has reached. */
const BACKFILL_PROGRESS = 'time_index_backfill';
const BACKFILL_CHUNK = 2000;

export type TimeIndexKey = [ts: string, paddedPosition: string];

/** The `events_by_time` key of one event: its time (normalised, so keys sort as times), then its position. */
export function timeIndexKey(event: Pick<JobEvent, 'ts'>, paddedPosition: string): TimeIndexKey {
  return [normalizeTs(event.ts), paddedPosition];
}

/** The `events_by_time` keys of every event of a job in a generation (to remove the job's rows). */
export function jobTimeIndexKeys(t: GenerationTables, jobId: string): TimeIndexKey[] {
  const keys: TimeIndexKey[] = [];
  for (const { key, value } of t.jobPositions.getRange({ start: [jobId, ''], end: [jobId, '\uffff'] })) {
    const json = t.events.get([jobId, value[0]]);
    if (json !== undefined) keys.push(timeIndexKey(JSON.parse(json) as JobEvent, key[1]));
  }
  return keys;
}

export function isTimeIndexed(t: GenerationTables): boolean {
  return t.checkpoints.get(TIME_INDEX_MARKER) === TIME_INDEX_VERSION;
}

/**
 * The position of the earliest event (by time) at or after `since`, or null when every event is older: one
 * index lookup, whatever the length of the log. `since` must be normalised (`normalizeTs`).
 */
export function firstPositionSince(
  t: GenerationTables,
  transaction: Transaction,
  since: string,
): string | null {
  for (const { key } of t.eventsByTime.getRange({ start: [since, ''], limit: 1, transaction }))
    return unpadPosition(key[1]);
  return null;
}

/**
 * Gives the events of a generation written before the time index existed their rows, in chunks (each chunk
 * and its progress in one transaction, so an interrupted backfill resumes where it stopped), then marks the
 * generation. A generation without any row needs nothing: its first batch writes the marker.
 */
export async function backfillTimeIndex(t: GenerationTables, logger?: Logger): Promise<void> {
  if (isTimeIndexed(t)) return;
  if (t.checkpoints.get(READ_MODEL_CHECKPOINT) === undefined) return;
  let from = t.checkpoints.get(BACKFILL_PROGRESS);
  logger?.info({ generation: t.generation, from: from ?? 'start' }, 'read model: indexing events by time');
  let indexed = 0;
  for (;;) {
    const rows: { key: TimeIndexKey; value: [string, number] }[] = [];
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
      rows.push({ key: timeIndexKey(JSON.parse(json) as JobEvent, key), value: [value[0], value[1]] });
    }
    const done = count < BACKFILL_CHUNK;
    await t.checkpoints.transaction(() => {
      for (const row of rows) t.eventsByTime.putSync(row.key, row.value);
      if (done) {
        t.checkpoints.removeSync(BACKFILL_PROGRESS);
        t.checkpoints.putSync(TIME_INDEX_MARKER, TIME_INDEX_VERSION);
      } else if (last !== undefined) t.checkpoints.putSync(BACKFILL_PROGRESS, last);
    });
    indexed += count;
    if (done) break;
    from = last;
  }
  logger?.info({ generation: t.generation, events: indexed }, 'read model: time index ready');
}
