import type { Transaction } from 'lmdb';
import type { JobEvent } from '../../domain/events.ts';
import type { ReadModelStore } from '../index.ts';
import { unpadPosition } from '../positions.ts';
import type { GenerationTables } from '../readModelStore.ts';
import type { PostingKey } from '../searchIndex.ts';
import { isSearchIndexed, postingHolds, postingRowPositions, searchTerms } from '../searchIndex.ts';
import { normalizeTs } from '../timestamps.ts';
import type { ProjectionDifference } from './projectionDifference.ts';

/**
 * Index rows that point at nothing: listing rows whose job row disagrees, global position and time rows whose
 * event row is missing or elsewhere. One read transaction; O(jobs + events) time, constant memory.
 */
export function verifyReadModelIndexes(rms: ReadModelStore): ProjectionDifference[] {
  return rms.read((t, transaction) => {
    const g = `g${t.generation}`;
    const diffs: ProjectionDifference[] = [];
    for (const { key } of t.jobsByCreated.getRange({ transaction })) {
      const [created, jobId] = key;
      const row = t.jobs.get(jobId, { transaction });
      if (!row || (row.created_at ?? '') !== created)
        diffs.push({
          projection: 'readmodel',
          kind: 'extra',
          job_id: jobId,
          row: `${g}:jobs_by_created[${key.join(',')}]`,
          detail: 'listing index row without a matching job row',
        });
    }
    for (const { key } of t.jobsByStatus.getRange({ transaction })) {
      const [status, created, jobId] = key;
      const row = t.jobs.get(jobId, { transaction });
      if (!row || row.status !== status || (row.created_at ?? '') !== created)
        diffs.push({
          projection: 'readmodel',
          kind: 'extra',
          job_id: jobId,
          row: `${g}:jobs_by_status[${key.join(',')}]`,
          detail: `status index row says ${status}, the job row ${row ? `says ${row.status}` : 'is missing'}`,
        });
    }
    for (const { key, value } of t.eventsByTime.getRange({ transaction })) {
      const [jobId, seq] = value;
      const json = t.events.get([jobId, seq], { transaction });
      const event = json === undefined ? undefined : (JSON.parse(json) as { position: string; ts: string });
      if (!event || event.position !== unpadPosition(key[1]) || normalizeTs(event.ts) !== key[0])
        diffs.push({
          projection: 'readmodel',
          kind: 'extra',
          job_id: jobId,
          seq,
          row: `${g}:events_by_time[${key[0]},${unpadPosition(key[1])}]`,
          detail: 'global time index row without a matching event row',
        });
    }
    const indexed = isSearchIndexed(t, transaction);
    const terms = new TermDigest();
    for (const { key, value } of t.positions.getRange({ transaction })) {
      const [jobId, seq, type] = value;
      const json = t.events.get([jobId, seq], { transaction });
      const event = json === undefined ? undefined : (JSON.parse(json) as JobEvent);
      if (event && indexed) for (const [field, term] of searchTerms(event)) terms.add(field, term, key);
      if (!event || event.position !== unpadPosition(key) || event.type !== type)
        diffs.push({
          projection: 'readmodel',
          kind: 'extra',
          job_id: jobId,
          seq,
          row: `${g}:positions[${unpadPosition(key)}]`,
          detail: 'global position row without a matching event row',
        });
    }
    if (indexed) diffs.push(...verifySearchPostings(t, transaction, terms));
    return diffs;
  });
}

/**
 * An order-free digest of (field, value, padded position) triples: their count and two sums of 32-bit hashes,
 * so the event rows' terms and the postings' entries compare in constant memory. Two multisets that differ
 * digest alike only by a coincidence of both hashes.
 */
class TermDigest {
  count = 0;
  #a = 0;
  #b = 0;

  add(field: string, value: string, position: string): void {
    const text = `${field}\u0000${value}\u0000${position}`;
    let a = 0x811c9dc5;
    let b = 0x2f3e5d71;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 15);
    }
    this.count++;
    this.#a = (this.#a + (a >>> 0)) % 0x100000000;
    this.#b = (this.#b + (b >>> 0)) % 0x100000000;
  }

  equals(other: TermDigest): boolean {
    return this.count === other.count && this.#a === other.#a && this.#b === other.#b;
  }
}

/**
 * The search index against the event rows (each checked against the log per job). In the healthy case one
 * scan: the postings' entries digest alike with the events' terms, and every row is well formed. Otherwise
 * every entry is resolved to its event (naming entries under a term their event lacks, or listed twice) and
 * every event is looked up under each of its terms (naming the missing ones).
 */
function verifySearchPostings(
  t: GenerationTables,
  transaction: Transaction,
  terms: TermDigest,
): ProjectionDifference[] {
  const g = `g${t.generation}`;
  const diffs: ProjectionDifference[] = [];
  const rowName = (key: PostingKey) =>
    `${g}:search_postings[${key[0]},${JSON.stringify(key[1])},${unpadPosition(key[2])}]`;
  const entries = new TermDigest();
  for (const { key, value } of t.searchPostings.getRange({ transaction })) {
    const positions = postingRowPositions(key, value);
    if (typeof positions === 'string')
      diffs.push({
        projection: 'readmodel',
        kind: 'different',
        job_id: '?',
        row: rowName(key),
        detail: `malformed row: ${positions}`,
      });
    else for (const position of positions) entries.add(key[0], key[1], position);
  }
  if (diffs.length === 0 && entries.equals(terms)) return diffs;
  let term = '';
  let last = '';
  for (const { key, value } of t.searchPostings.getRange({ transaction })) {
    const positions = postingRowPositions(key, value);
    if (typeof positions === 'string') continue;
    const [field, indexed] = key;
    const termKey = JSON.stringify([field, indexed]);
    if (termKey !== term) {
      term = termKey;
      last = '';
    }
    for (const position of positions) {
      const overlaps = position <= last;
      last = position > last ? position : last;
      const ref = t.positions.get(position, { transaction });
      const json = ref === undefined ? undefined : t.events.get([ref[0], ref[1]], { transaction });
      const event = json === undefined ? undefined : (JSON.parse(json) as JobEvent);
      const holds =
        event?.position === unpadPosition(position) &&
        searchTerms(event).some(([f, v]) => f === field && v === indexed);
      if (overlaps || !holds)
        diffs.push({
          projection: 'readmodel',
          kind: 'extra',
          job_id: ref?.[0] ?? '?',
          ...(ref ? { seq: ref[1] } : {}),
          row: rowName(key),
          detail: overlaps
            ? `position ${unpadPosition(position)} is listed twice under ${field}`
            : `position ${unpadPosition(position)} is listed under ${field}, whose value its event ${event ? 'does not have' : 'row is missing for'}`,
        });
    }
  }
  for (const { key, value } of t.positions.getRange({ transaction })) {
    const json = t.events.get([value[0], value[1]], { transaction });
    if (json === undefined) continue; // named above as a position row without its event
    for (const [field, indexed] of searchTerms(JSON.parse(json) as JobEvent))
      if (!postingHolds(t, field, indexed, key, transaction))
        diffs.push({
          projection: 'readmodel',
          kind: 'missing',
          job_id: value[0],
          seq: value[1],
          row: `${g}:search_postings[${field},${JSON.stringify(indexed)}]`,
          detail: `search index lacks the event at position ${unpadPosition(key)} under ${field}`,
        });
  }
  return diffs;
}
