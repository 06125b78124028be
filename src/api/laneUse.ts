import type { LaneUse } from '../domain/commands.ts';
import { QUEUE_FRONT_STREAM, queueFrontEvent } from '../runner/queueFront.ts';
import type { ApiDeps } from './apiDeps.ts';

/**
 * `pipeline.lanes` and the lanes held now: the runner's count when it runs in this process, else the read
 * model's (running jobs, and paused ones while gates hold lanes). Only what is needed to compare with the
 * limit is counted.
 */
export function laneUse(deps: ApiDeps): LaneUse {
  const fromRunner = deps.queue?.laneUse?.();
  if (fromRunner) return fromRunner;
  const limit = deps.config.pipeline.lanes;
  const count = (status: string) => deps.readModel.listJobs({ status, limit: limit + 1 }).jobs.length;
  const occupied = count('running') + (deps.config.pipeline.gate_holds_lane ? count('paused') : 0);
  return { limit, occupied };
}

/** Puts a queued job at the front of the queue, in the store, for whichever process runs the runner. */
export async function recordQueueFront(deps: ApiDeps, jobId: string, by: string): Promise<void> {
  await deps.store.append(QUEUE_FRONT_STREAM, [
    queueFrontEvent({ job_id: jobId, requested_by: by, ts: deps.clock().toISOString() }),
  ]);
}
