import type { JobEvent } from '../../domain/events.ts';
import type { JobState } from '../../domain/jobState.ts';
import type { JobSummary } from '../index.ts';
import { expectedReadModelJob, READ_MODEL_CHECKPOINT, type ReadModelStore } from '../index.ts';
import { padPosition } from '../positions.ts';
import { normalizeTs } from '../timestamps.ts';
import type { ProjectionDifference } from './projectionDifference.ts';
import { describeFields } from './projectionDifference.ts';
import { upTo } from './verifyJobFiles.ts';

const MAX_KEY = '\uffff';

/** A job's rows in the active generation, and the checkpoint, read in one transaction. */
export interface ReadModelJobSnapshot {
  generation: number;
  checkpoint: string | null;
  job: JobSummary | undefined;
  state: JobState | undefined;
  events: Map<number, string>;
  /** `events_by_ts` keys as `ts|seq`. */
  byTs: Set<string>;
  createdKeyPresent: (key: [string, string]) => boolean;
  statusKeyPresent: (key: [string, string, string]) => boolean;
}

export function snapshotReadModelJob(rms: ReadModelStore, jobId: string): ReadModelJobSnapshot {
  return rms.read((t, transaction) => {
    const events = new Map<number, string>();
    for (const { key, value } of t.events.getRange({
      start: [jobId, -1],
      end: [jobId, Number.MAX_SAFE_INTEGER],
      transaction,
    }))
      events.set(key[1], value);
    const byTs = new Set<string>();
    for (const { key } of t.eventsByTs.getRange({ start: [jobId, ''], end: [jobId, MAX_KEY], transaction }))
      byTs.add(`${key[1]}|${key[2]}`);
    const created = new Set<string>();
    const status = new Set<string>();
    const job = t.jobs.get(jobId, { transaction });
    const candidates = job ? [job] : [];
    for (const row of candidates) {
      const createdKey: [string, string] = [row.created_at ?? '', jobId];
      if (t.jobsByCreated.get(createdKey, { transaction }) !== undefined)
        created.add(JSON.stringify(createdKey));
      const statusKey: [string, string, string] = [row.status, row.created_at ?? '', jobId];
      if (t.jobsByStatus.get(statusKey, { transaction }) !== undefined) status.add(JSON.stringify(statusKey));
    }
    return {
      generation: t.generation,
      checkpoint: t.checkpoints.get(READ_MODEL_CHECKPOINT, { transaction }) ?? null,
      job,
      state: t.states.get(jobId, { transaction }),
      events,
      byTs,
      createdKeyPresent: (key) => created.has(JSON.stringify(key)),
      statusKeyPresent: (key) => status.has(JSON.stringify(key)),
    };
  });
}

/**
 * Diffs a job's rows against the fold of its events up to the read model checkpoint (read in the same
 * transaction as the rows, so a live server writing meanwhile cannot cause a false difference).
 */
export function verifyReadModelJob(
  rms: ReadModelStore,
  snap: ReadModelJobSnapshot,
  jobId: string,
  allEvents: readonly JobEvent[],
): ProjectionDifference[] {
  const g = `g${snap.generation}`;
  const diffs: ProjectionDifference[] = [];
  const push = (kind: ProjectionDifference['kind'], row: string, detail: string, seq?: number) =>
    diffs.push({
      projection: 'readmodel',
      kind,
      job_id: jobId,
      row,
      detail,
      ...(seq === undefined ? {} : { seq }),
    });
  const events = upTo(allEvents, snap.checkpoint);
  const expected = expectedReadModelJob(jobId, events);
  const jobRow = `${g}:jobs[${jobId}]`;
  if (!expected) {
    if (snap.job) push('extra', jobRow, 'job row for a job without events in the log', snap.job.seq);
    if (snap.state) push('extra', `${g}:states[${jobId}]`, 'state row for a job without events in the log');
  } else {
    const seq = expected.summary.seq;
    const rowMatches =
      snap.job !== undefined && JSON.stringify(snap.job) === JSON.stringify(expected.summary);
    if (!snap.job)
      push('missing', jobRow, `job row missing (expected status ${expected.summary.status})`, seq);
    else if (!rowMatches)
      push(
        'different',
        jobRow,
        `stale or wrong row: ${describeFields(snap.job, expected.summary)}`,
        snap.job.seq,
      );
    if (!snap.state) push('missing', `${g}:states[${jobId}]`, 'state row missing', seq);
    else if (JSON.stringify(snap.state) !== JSON.stringify(expected.state))
      push('different', `${g}:states[${jobId}]`, describeFields(snap.state, expected.state), snap.state.seq);
    const created: [string, string] = [expected.summary.created_at ?? '', jobId];
    if (rowMatches && !snap.createdKeyPresent(created))
      push('missing', `${g}:jobs_by_created[${created.join(',')}]`, 'listing index row missing', seq);
    const status: [string, string, string] = [
      expected.summary.status,
      expected.summary.created_at ?? '',
      jobId,
    ];
    if (rowMatches && !snap.statusKeyPresent(status))
      push('missing', `${g}:jobs_by_status[${status.join(',')}]`, 'status index row missing', seq);
  }
  const want = new Map(events.map((e, i) => [e.seq, expected?.events[i] as string]));
  for (const [seq, json] of want) {
    const row = `${g}:events[${jobId},${seq}]`;
    const got = snap.events.get(seq);
    if (got === undefined) push('missing', row, 'event row missing', seq);
    else if (got !== json) push('different', row, describeFields(JSON.parse(got), JSON.parse(json)), seq);
  }
  for (const seq of snap.events.keys())
    if (!want.has(seq))
      push(
        'extra',
        `${g}:events[${jobId},${seq}]`,
        'event row the log does not have up to the checkpoint',
        seq,
      );
  const wantTs = new Set(events.map((e) => `${normalizeTs(e.ts)}|${e.seq}`));
  for (const key of wantTs)
    if (!snap.byTs.has(key))
      push(
        'missing',
        `${g}:events_by_ts[${jobId},${key.replace('|', ',')}]`,
        'time index row missing',
        seqOfKey(key),
      );
  for (const key of snap.byTs)
    if (!wantTs.has(key))
      push(
        'extra',
        `${g}:events_by_ts[${jobId},${key.replace('|', ',')}]`,
        'time index row the log does not have',
        seqOfKey(key),
      );
  const globalRows = rms.read((t, transaction) =>
    events.map(
      (e) =>
        [
          e,
          t.positions.get(padPosition(e.position), { transaction }),
          t.eventsByTime.get([normalizeTs(e.ts), padPosition(e.position)], { transaction }),
        ] as const,
    ),
  );
  for (const [e, , time] of globalRows)
    if (!time || time[0] !== jobId || time[1] !== e.seq)
      push(
        time ? 'different' : 'missing',
        `${g}:events_by_time[${normalizeTs(e.ts)},${e.position}]`,
        'global time index row missing or wrong',
        e.seq,
      );
  for (const [e, got] of globalRows)
    if (!got || got[0] !== jobId || got[1] !== e.seq || got[2] !== e.type)
      push(
        got ? 'different' : 'missing',
        `${g}:positions[${e.position}]`,
        'global position row missing or wrong',
        e.seq,
      );
  return diffs;
}

function seqOfKey(key: string): number {
  return Number(key.slice(key.lastIndexOf('|') + 1));
}
