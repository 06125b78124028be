import { lmdbTransaction } from '../infra/lmdb/lmdbWrite.ts';
import type { ReadModelStore } from '../projections/index.ts';
import {
  jobEventsFromPosition,
  jobSearchPostings,
  jobTimeIndexKeys,
  removeSearchPostings,
} from '../projections/index.ts';

const MAX_KEY = '\uffff';

/**
 * Removes every row of a job from a read model generation (retention): its events and their indexes (the
 * search and time indexes included), the job row, its listing rows and its state. The keys are gathered first and the
 * removals run in one write transaction. The checkpoint is left alone: the events stay applied, the job is just gone.
 */
export async function removeJobRows(rms: ReadModelStore, generation: number, jobId: string): Promise<void> {
  const t = rms.tables(generation);
  const events = [...t.events.getKeys({ start: [jobId, -1], end: [jobId, Number.MAX_SAFE_INTEGER] })];
  const byTs = [...t.eventsByTs.getKeys({ start: [jobId, ''], end: [jobId, MAX_KEY] })];
  const positions = [...jobEventsFromPosition(t, undefined, jobId, '')].map((e) => e.position);
  // A generation written before `job_positions` was dropped (decision 0017) still holds its rows.
  const legacyJobPositions = [...t.jobPositions.getKeys({ start: [jobId, ''], end: [jobId, MAX_KEY] })];
  const postings = jobSearchPostings(t, jobId);
  const timeKeys = jobTimeIndexKeys(t, jobId);
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
