import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { OperatorError } from '../domain/errors.ts';
import type { JobEvent, JobStatus } from '../domain/events.ts';
import { isTerminal } from '../domain/events.ts';
import { writeTarGz } from '../infra/archive/writeTarGz.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { jobStreamName } from '../infra/eventstore/eventStore.ts';
import { toJobEvent } from '../infra/eventstore/jobEvents.ts';
import { logStreamName } from '../infra/eventstore/stageLogStreams.ts';
import { fsyncDir } from '../infra/files/durableFiles.ts';
import { archivePath, runPaths } from '../infra/files/runsLayout.ts';
import type { LeaseRecord } from '../infra/leases/lmdbLeases.ts';
import { newLeaseHolder } from '../infra/leases/lmdbLeases.ts';
import { ProjectionLeases, REBUILD_LEASE } from '../infra/leases/projectionLeases.ts';
import type { JobSummary, ReadModelStore } from '../projections/index.ts';
import { foldJob } from '../projections/index.ts';
import { removeJobRows } from './removeJobRows.ts';

export interface RetentionOptions {
  store: EventStore;
  readModelStore: ReadModelStore;
  runsDir: string;
  /** `storage.events_retention_days`: jobs that ended more than this many days before `now` go. */
  retentionDays: number;
  /** `storage.retention_action`. */
  action: 'delete' | 'archive';
  /** The sweep's "now" (tests and what-if runs pass another). */
  now: Date;
  dryRun?: boolean;
  logger?: Logger;
}

export interface SweptJob {
  job_id: string;
  status: JobStatus;
  finished_at: string;
  /** `runs/_archive/<id>.tar.gz` when archived. */
  archive: string | null;
}

export interface RetentionResult {
  now: string;
  cutoff: string;
  action: 'delete' | 'archive';
  dry_run: boolean;
  swept: SweptJob[];
  /** Jobs not ended yet (queued, running, paused): never touched. */
  kept_active: number;
  /** Jobs that ended after the cutoff. */
  kept_recent: number;
  failed: { job_id: string; error: string }[];
}

/** Another maintenance run (rebuild or sweep) holds the lease; the sweep does not run now. */
export class RetentionBusyError extends OperatorError {
  constructor(holder: LeaseRecord) {
    super(
      'retention_busy',
      `a ${holder.role} is running (pid ${holder.pid} on ${holder.host}); try again after it`,
      'conflict',
    );
  }
}

const DAY_MS = 86_400_000;

/**
 * The retention sweep: every job that ended (completed, failed, canceled) more than `retentionDays` before
 * `now` has its stream and its stage log streams deleted from the store, its `runs/<id>` removed (or, with
 * `archive`, packed into `runs/_archive/<id>.tar.gz` first) and its read model rows removed. Candidates come from the read model;
 * each is re-checked against its stream (the source of truth) before anything is touched, so a job that is
 * not ended is never touched even when the read model lags. Steps are ordered so that a sweep interrupted
 * half-way is finished by the next one. Holds the rebuild lease meanwhile: a rebuild never sees a job
 * half-swept.
 */
export async function runRetention(options: RetentionOptions): Promise<RetentionResult> {
  const { store, readModelStore: rms } = options;
  const cutoff = new Date(options.now.getTime() - options.retentionDays * DAY_MS);
  const result: RetentionResult = {
    now: options.now.toISOString(),
    cutoff: cutoff.toISOString(),
    action: options.action,
    dry_run: options.dryRun === true,
    swept: [],
    kept_active: 0,
    kept_recent: 0,
    failed: [],
  };
  const generation = rms.generation();
  const candidates: JobSummary[] = [];
  for (const { value: row } of rms.tables(generation).jobs.getRange()) {
    if (!isTerminal(row.status) || row.finished_at === null) result.kept_active++;
    else if (Date.parse(row.finished_at) >= cutoff.getTime()) result.kept_recent++;
    else candidates.push(row);
  }
  // The lease only when there is something to sweep: a daily sweep with nothing due never blocks a rebuild.
  const leases = new ProjectionLeases(rms.env);
  const me = newLeaseHolder('retention');
  const locks = !options.dryRun && candidates.length > 0;
  if (locks && !leases.tryAcquire(REBUILD_LEASE, me, 10 * 60_000))
    throw new RetentionBusyError(leases.read(REBUILD_LEASE) as LeaseRecord);
  try {
    for (const row of candidates) {
      const events = await readJob(store, row.job_id);
      const state = events.length > 0 ? foldJob(events).state : null;
      if (state && (state.status === 'none' || !isTerminal(state.status) || state.finished_at === null)) {
        result.kept_active++; // the read model lags behind the log: the job is live
        continue;
      }
      if (state?.finished_at && Date.parse(state.finished_at) >= cutoff.getTime()) {
        result.kept_recent++;
        continue;
      }
      const job: SweptJob = {
        job_id: row.job_id,
        status: (state?.status as JobStatus | undefined) ?? row.status,
        finished_at: state?.finished_at ?? (row.finished_at as string),
        archive: null,
      };
      try {
        if (!options.dryRun) job.archive = await sweepJob(options, row, generation, events);
        else if (options.action === 'archive') job.archive = archivePath(options.runsDir, row.job_id);
        result.swept.push(job);
      } catch (error) {
        result.failed.push({
          job_id: row.job_id,
          error: error instanceof Error ? error.message : String(error),
        });
        options.logger?.error({ err: error, job_id: row.job_id }, 'retention: sweeping a job failed');
      }
    }
  } finally {
    if (locks) leases.release(REBUILD_LEASE, me);
  }
  options.logger?.info(
    {
      swept: result.swept.length,
      kept_active: result.kept_active,
      kept_recent: result.kept_recent,
      failed: result.failed.length,
      action: result.action,
      dry_run: result.dry_run,
      cutoff: result.cutoff,
    },
    `retention sweep: ${result.swept.length} job(s) ${result.dry_run ? 'would be ' : ''}${result.action === 'archive' ? 'archived' : 'deleted'}`,
  );
  return result;
}

/** Archive (if asked), delete the log streams and the job's stream, remove the run dir, remove the rows: each step redoable. */
async function sweepJob(
  options: RetentionOptions,
  row: JobSummary,
  generation: number,
  events: readonly JobEvent[],
): Promise<string | null> {
  const paths = runPaths(options.runsDir, row.job_id);
  const exists = await stat(paths.dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  let archive: string | null = null;
  // Each step names itself in a failure: after the streams are hidden, the job's files and rows are what
  // is left, and the next sweep finishes them (its candidates come from the read model rows).
  let hidden = false;
  const step = async (what: string, run: () => Promise<unknown>) => {
    try {
      await run();
    } catch (error) {
      throw new Error(
        `${what}: ${error instanceof Error ? error.message : String(error)}${hidden ? ' (its events are hidden already; the next sweep finishes it)' : ''}`,
        { cause: error },
      );
    }
  };
  if (options.action === 'archive' && exists) {
    archive = archivePath(options.runsDir, row.job_id);
    const target = archive;
    await step('archiving runs/<id>', async () => {
      await mkdir(dirname(target), { recursive: true });
      await writeTarGz(paths.dir, row.job_id, target);
    });
  }
  // Log streams first: their names come from the job's stream, so a sweep interrupted here redoes them.
  await step('hiding its streams', async () => {
    for (const event of events)
      if (event.type === 'stage_started' && event.stage !== null)
        await options.store.deleteStream(logStreamName(row.job_id, event.stage, event.seq));
    if (events.length > 0) await options.store.deleteStream(jobStreamName(row.job_id));
  });
  hidden = true;
  if (exists)
    await step('removing runs/<id>', async () => {
      await rm(paths.dir, { recursive: true, force: true });
      await fsyncDir(options.runsDir);
    });
  await step('removing its read model rows', () =>
    removeJobRows(options.readModelStore, generation, row.job_id),
  );
  return archive;
}

async function readJob(store: EventStore, jobId: string): Promise<JobEvent[]> {
  const events: JobEvent[] = [];
  for await (const recorded of store.readStream(jobStreamName(jobId))) events.push(toJobEvent(recorded));
  return events;
}
