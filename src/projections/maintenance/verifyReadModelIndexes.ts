import type { ReadModelStore } from '../index.ts';
import type { ProjectionDifference } from './projectionDifference.ts';
import { normalizeTs, unpad } from './verifyReadModel.ts';

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
      if (!event || event.position !== unpad(key[1]) || normalizeTs(event.ts) !== key[0])
        diffs.push({
          projection: 'readmodel',
          kind: 'extra',
          job_id: jobId,
          seq,
          row: `${g}:events_by_time[${key[0]},${unpad(key[1])}]`,
          detail: 'global time index row without a matching event row',
        });
    }
    for (const { key, value } of t.positions.getRange({ transaction })) {
      const [jobId, seq, type] = value;
      const json = t.events.get([jobId, seq], { transaction });
      const event = json === undefined ? undefined : (JSON.parse(json) as { position: string; type: string });
      if (!event || event.position !== unpad(key) || event.type !== type)
        diffs.push({
          projection: 'readmodel',
          kind: 'extra',
          job_id: jobId,
          seq,
          row: `${g}:positions[${unpad(key)}]`,
          detail: 'global position row without a matching event row',
        });
    }
    return diffs;
  });
}
