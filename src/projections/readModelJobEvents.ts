import type { Transaction } from 'lmdb';
import { padPosition } from './positions.ts';
import type { JobEventsPage, JobEventsQuery } from './readModelQueries.ts';
import type { GenerationTables } from './readModelStore.ts';

const MAX_KEY = '\uffff';

/**
 * A page of a job's events in one read transaction (see `ReadModel.jobEvents`). A page that stops short of
 * `limit`, and the latest page, end at the job's last event: its seq is the head, so the second range
 * read for the head is made only when the page may end before it.
 */
export function jobEventsPage(
  t: GenerationTables,
  transaction: Transaction,
  jobId: string,
  query: JobEventsQuery,
  limit: number,
): JobEventsPage {
  let events: string[];
  let reachesHead: boolean;
  if (query.after !== undefined) {
    events = eventsFrom(t, transaction, jobId, query.after + 1, limit);
    reachesHead = events.length < limit;
  } else if (query.since !== undefined) {
    const first = firstSeqSince(t, transaction, jobId, query.since);
    events = first === null ? [] : eventsFrom(t, transaction, jobId, first, limit);
    reachesHead = events.length < limit;
  } else {
    events = latestEvents(t, transaction, jobId, limit);
    reachesHead = true;
  }
  const lastSeq = events.length > 0 ? seqOf(events.at(-1) as string) : null;
  const head = lastSeq !== null && reachesHead ? lastSeq : headOf(t, transaction, jobId);
  const next_after = lastSeq ?? query.after ?? (head >= 0 ? head : null);
  return { events, next_after, head };
}

export function headOf(t: GenerationTables, transaction: Transaction | undefined, jobId: string): number {
  for (const { key } of t.events.getRange({
    start: [jobId, Number.MAX_SAFE_INTEGER],
    end: [jobId, -1],
    reverse: true,
    limit: 1,
    transaction,
  }))
    return key[1];
  return -1;
}

function latestEvents(t: GenerationTables, transaction: Transaction, jobId: string, limit: number): string[] {
  return [
    ...t.events
      .getRange({
        start: [jobId, Number.MAX_SAFE_INTEGER],
        end: [jobId, -1],
        reverse: true,
        limit,
        transaction,
      })
      .map(({ value }) => value),
  ].reverse();
}

function eventsFrom(
  t: GenerationTables,
  transaction: Transaction,
  jobId: string,
  fromSeq: number,
  limit: number,
): string[] {
  return [
    ...t.events
      .getRange({ start: [jobId, fromSeq], end: [jobId, Number.MAX_SAFE_INTEGER], limit, transaction })
      .map(({ value }) => value),
  ];
}

/** The seq of the job's earliest event with `ts >= since` (a normalised ISO time), null when none. */
function firstSeqSince(
  t: GenerationTables,
  transaction: Transaction,
  jobId: string,
  since: string,
): number | null {
  for (const { value } of t.eventsByTs.getRange({
    start: [jobId, since],
    end: [jobId, MAX_KEY],
    limit: 1,
    transaction,
  }))
    return value;
  return null;
}

/** The seq of a canonical event JSON, without parsing it all: `seq` follows `id` and `job_id`. */
function seqOf(json: string): number {
  const match = /,"seq":(\d+),/.exec(json);
  return match ? Number(match[1]) : (JSON.parse(json) as { seq: number }).seq;
}

/** A job's event as the position-ordered readers see it. */
export interface PositionedEvent {
  /** Padded position. */
  position: string;
  seq: number;
  type: string;
  /** Canonical JSON. */
  json: string;
}

/**
 * A job's events from the first at or after `from` (a padded position; '' from the start), in order. No
 * index is needed: within a job the store's positions grow with seq, so the first is found by a binary
 * search over seq in `events`, each probe one row, then the rows follow in seq order.
 */
export function* jobEventsFromPosition(
  t: GenerationTables,
  transaction: Transaction | undefined,
  jobId: string,
  from: string,
): Generator<PositionedEvent> {
  // The first row at or after `seq`, if any: the row of `seq` itself in one lookup (a job's seqs follow
  // each other), else a range.
  const rowFrom = (seq: number) => {
    const value = t.events.get([jobId, seq], { transaction });
    if (value !== undefined) return { key: [jobId, seq] as const, value };
    for (const row of t.events.getRange({
      start: [jobId, seq],
      end: [jobId, Number.MAX_SAFE_INTEGER],
      limit: 1,
      transaction,
    }))
      return row;
    return undefined;
  };
  const first = rowFrom(-1);
  if (!first) return;
  let lo = first.key[1];
  let hi = headOf(t, transaction, jobId) + 1;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const row = rowFrom(mid);
    if (row === undefined || positionOf(row.value) >= from) hi = mid;
    else lo = row.key[1] + 1;
  }
  for (const { key, value } of t.events.getRange({
    start: [jobId, lo],
    end: [jobId, Number.MAX_SAFE_INTEGER],
    transaction,
  }))
    yield { position: positionOf(value), seq: key[1], type: typeOf(value), json: value };
}

/** The padded position of a canonical event JSON: `position` follows `id`, `job_id` and `seq`. */
function positionOf(json: string): string {
  const match = /,"position":"(\d+)",/.exec(json);
  const position = match ? (match[1] as string) : (JSON.parse(json) as { position: string }).position;
  return padPosition(position);
}

/** The type of a canonical event JSON: `type` follows `ts`. */
function typeOf(json: string): string {
  const match = /,"type":"([^"\\]+)",/.exec(json);
  return match ? (match[1] as string) : (JSON.parse(json) as { type: string }).type;
}
