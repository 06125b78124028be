import type { Transaction } from 'lmdb';
import type { Logger } from 'pino';
import type { JobEvent } from '../domain/events.ts';
import type { IndexBackfill } from './backfillIndex.ts';
import { backfillIndex } from './backfillIndex.ts';
import { padPosition, unpadPosition } from './positions.ts';
import type { GenerationTables } from './readModelStore.ts';
import { normalizeTs } from './timestamps.ts';

/** Key in the generation's `checkpoints` table: present once every event of the generation has its time row. */
export const TIME_INDEX_MARKER = 'time_index';
export const TIME_INDEX_VERSION = '1';
/** Key in the same table: the padded position the backfill of an older generation has reached. */
const BACKFILL_PROGRESS = 'time_index_backfill';

export type TimeIndexKey = [ts: string, paddedPosition: string];

/** The `events_by_time` key of one event: its time (normalised, so keys sort as times), then its position. */
export function timeIndexKey(event: Pick<JobEvent, 'ts'>, paddedPosition: string): TimeIndexKey {
  return [normalizeTs(event.ts), paddedPosition];
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

/** The time index as a backfill: older generations get their rows (see `backfillIndex`). */
const TIME_INDEX: IndexBackfill = {
  name: 'time',
  marker: TIME_INDEX_MARKER,
  version: TIME_INDEX_VERSION,
  progress: BACKFILL_PROGRESS,
  write: (t, events) => {
    for (const e of events)
      t.eventsByTime.putSync(timeIndexKey(e, padPosition(e.position)), [e.job_id, e.seq]);
  },
};

export const backfillTimeIndex = (t: GenerationTables, logger?: Logger): Promise<void> =>
  backfillIndex(t, TIME_INDEX, logger);
