import type { JobEvent } from '../domain/events.ts';
import { lmdbTransaction } from '../infra/lmdb/lmdbWrite.ts';
import type { Posting, ReadModelStore, TimeIndexKey } from '../projections/index.ts';
import { padPosition, removeSearchPostings, searchTerms, timeIndexKey } from '../projections/index.ts';

const MAX_KEY = '\uffff';

/**
 * Removes every row of a job from a read model generation (retention): its events and their indexes (the
 * search and time indexes included), the job row, its listing rows and its state. The keys are gathered first and the
 * removals run in one write transaction. The checkpoint is left alone: the events stay applied, the job is just gone.
 */
export async function removeJobRows(rms: ReadModelStore, generation: number, jobId: string): Promise<void> {
  const t = rms.tables(generation);
  // One read of the job's events gives every key that depends on them.
  const events: [string, number][] = [];
  const positions: string[] = [];
  const postings: Posting[] = [];
  const timeKeys: TimeIndexKey[] = [];
  for (const { key, value } of t.events.getRange({
    start: [jobId, -1],
    end: [jobId, Number.MAX_SAFE_INTEGER],
  })) {
    const event = JSON.parse(value) as JobEvent;
    const position = padPosition(event.position);
    events.push(key);
    positions.push(position);
    for (const [field, term] of searchTerms(event)) postings.push([field, term, position]);
    timeKeys.push(timeIndexKey(event, position));
  }
  const byTs = [...t.eventsByTs.getKeys({ start: [jobId, ''], end: [jobId, MAX_KEY] })];
  // A generation written before `job_positions` was dropped (decision 0017) still holds its rows.
  const legacyJobPositions = [...t.jobPositions.getKeys({ start: [jobId, ''], end: [jobId, MAX_KEY] })];
  const job = t.jobs.get(jobId);
  await lmdbTransaction(rms.env, () => {
    for (const key of events) t.events.removeSync(key);
    for (const key of byTs) t.eventsByTs.removeSync(key);
    removeSearchPostings(t, postings);
    for (const key of timeKeys) t.eventsByTime.removeSync(key);
    for (const position of positions) t.positions.removeSync(position);
    for (const key of legacyJobPositions) t.jobPositions.removeSync(key);
    if (job) {
      t.jobsByCreated.removeSync([job.created_at ?? '', jobId]);
      t.jobsByStatus.removeSync([job.status, job.created_at ?? '', jobId]);
    }
    t.jobs.removeSync(jobId);
    t.states.removeSync(jobId);
  });
}
