import type { Database, Key } from 'lmdb';
import type { JobEvent } from '../domain/events.ts';
import type { JobState } from '../domain/jobState.ts';
import { canonicalJson } from './jobFold.ts';
import type { JobSummary } from './jobSummary.ts';
import { padPosition } from './positions.ts';
import type { GenerationTables } from './readModelStore.ts';
import type { TimeIndexKey } from './readModelTimeIndex.ts';
import { normalizeTs } from './timestamps.ts';

/**
 * How rows reach LMDB: `putSync` inside a transaction (the live projection), or queued `put`s that lmdb-js
 * commits in large batches on its write thread (a rebuild's fresh generation).
 */
export interface RowWriter {
  /** `growing`: in a log replay, each key is usually above every key already in the table. */
  put<V, K extends Key>(db: Database<V, K>, key: K, value: V, growing?: boolean): void;
  remove<V, K extends Key>(db: Database<V, K>, key: K): void;
}

/**
 * Writes straight into the write transaction the caller is in, for a fresh generation filled from the log in
 * order: a growing key is appended at the end of its table (MDB_APPEND: no search, full pages). The writer
 * remembers the largest key it appended to each table, so a key below it (an event whose `ts` is older than
 * one before it) goes straight to a plain put instead of being refused as an append first. The comparison
 * only picks the path: LMDB still refuses an append that is not the largest key, and the put follows.
 */
export function appendingRowWriter(): RowWriter {
  const largest = new Map<object, Key>();
  return {
    put: (db, key, value, growing) => {
      if (growing) {
        const last = largest.get(db);
        if ((last === undefined || mayBeAbove(key, last)) && db.putSync(key, value, { append: true })) {
          largest.set(db, key);
          return;
        }
      }
      SYNC_ROW_WRITER.put(db, key, value);
    },
    remove: SYNC_ROW_WRITER.remove,
  };
}

/**
 * Whether `key` may sort above `last`: false only when it is certainly at or below it (strings and numbers
 * compared part by part; anything else is left to LMDB).
 */
function mayBeAbove(key: Key, last: Key): boolean {
  const a = Array.isArray(key) ? key : [key];
  const b = Array.isArray(last) ? last : [last];
  for (let i = 0; i < a.length; i++) {
    if (i >= b.length) return true;
    const x = a[i];
    const y = b[i];
    if (typeof x !== typeof y || (typeof x !== 'string' && typeof x !== 'number')) return true;
    if (x !== y) return (x as string | number) > (y as string | number);
  }
  return false;
}

/** Writes straight into the write transaction the caller is in. */
export const SYNC_ROW_WRITER: RowWriter = {
  put: (db, key, value) => {
    db.putSync(key, value);
  },
  remove: (db, key) => {
    db.removeSync(key);
  },
};

/**
 * The rows one event adds to a generation: the event itself (`json`, its canonical JSON) and every index
 * keyed by it but the search index, which a batch's events share (`writeSearchPostings`).
 */
export function writeEventRows(
  t: GenerationTables,
  e: JobEvent,
  w: RowWriter,
  json: string = canonicalJson(e),
): void {
  const position = padPosition(e.position);
  const ref: [string, number] = [e.job_id, e.seq];
  w.put(t.events, ref, json);
  // The time key of both time indexes, normalised once (`timeIndexKey` is [ts, position]).
  const ts = normalizeTs(e.ts);
  w.put(t.eventsByTs, [e.job_id, ts, e.seq], e.seq);
  w.put(t.positions, position, [e.job_id, e.seq, e.type], true);
  w.put(t.eventsByTime, [ts, position] satisfies TimeIndexKey, ref, true);
}

/** A job's rows after some of its events: state, summary, and the listing indexes (the old keys removed). */
export function writeJobRows(
  t: GenerationTables,
  jobId: string,
  state: JobState,
  summary: JobSummary,
  previous: JobSummary | undefined,
  w: RowWriter,
): void {
  w.put(t.states, jobId, state);
  w.put(t.jobs, jobId, summary);
  if (previous) {
    w.remove(t.jobsByCreated, createdKey(previous));
    w.remove(t.jobsByStatus, statusKey(previous));
  }
  w.put(t.jobsByCreated, createdKey(summary), null);
  w.put(t.jobsByStatus, statusKey(summary), null);
}

export function createdKey(job: Pick<JobSummary, 'created_at' | 'job_id'>): [string, string] {
  return [job.created_at ?? '', job.job_id];
}

export function statusKey(
  job: Pick<JobSummary, 'status' | 'created_at' | 'job_id'>,
): [string, string, string] {
  return [job.status, job.created_at ?? '', job.job_id];
}
