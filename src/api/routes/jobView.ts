import type { JobState } from '../../domain/jobState.ts';
import { jobStreamName } from '../../infra/eventstore/eventStore.ts';
import { toJobEvent } from '../../infra/eventstore/jobEvents.ts';
import type { JobSummary } from '../../projections/index.ts';
import { toJobSummary } from '../../projections/index.ts';
import type { ApiDeps } from '../apiDeps.ts';
import { notFound } from '../errors.ts';

/** A job as answers show it: its summary with the queue facts this process knows. */
export function withQueue<Row extends Omit<JobSummary, 'params'>>(deps: ApiDeps, job: Row): Row {
  return { ...job, ...(deps.queue?.queueInfo(job.job_id) ?? {}) };
}

/**
 * The job after a command (read-your-writes): the read model's row once the projections applied `position`
 * (waited for up to 2 s), else the summary folded from the command's state, as the read model will write it.
 */
export async function jobAfter(
  deps: ApiDeps,
  jobId: string,
  state: JobState,
  position: string | null,
): Promise<JobSummary> {
  if (position !== null) await deps.projections.waitForPosition(position, 2000);
  const row = deps.readModel.getJob(jobId);
  if (row && row.seq >= state.seq) return withQueue(deps, row);
  return withQueue(deps, toJobSummary(jobId, state, await eventAt(deps, jobId, state.seq)));
}

async function eventAt(deps: ApiDeps, jobId: string, seq: number) {
  if (seq < 0) throw notFound(`job ${jobId} not found`);
  for await (const recorded of deps.store.readStream(jobStreamName(jobId), {
    fromRevision: seq,
    maxCount: 1,
  }))
    return toJobEvent(recorded);
  throw notFound(`job ${jobId} not found`);
}

/**
 * A job the read model does not have (yet). When its stream exists it is answered as after a command
 * (`jobAfter`): the projections get up to 2 s to reach its last event, else its summary is folded from the
 * store. So a client that learned of the job from a stream, a moment ahead of the read model, gets the job and
 * not a 404.
 */
export async function jobNotYetProjected(deps: ApiDeps, jobId: string): Promise<JobSummary> {
  const state = await deps.commands.load(jobId);
  const last = await eventAt(deps, jobId, state.seq);
  return jobAfter(deps, jobId, state, last.position);
}
