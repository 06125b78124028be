import type { JobCommand, LaneUse } from '../domain/commands.ts';
import type { JobState } from '../domain/jobState.ts';

/** What the API asks the runner (or the queue view of a standby) about queued jobs and lanes. */
export interface QueueInfoPort {
  queueInfo(jobId: string): { queue_position: number | null; lane: number | null } | undefined;
  /** `pipeline.lanes` and the lanes held now. */
  laneUse?(): LaneUse;
  /** Start now when a lane is free, else put the job at the front of the queue (see `PipelineRunner`). */
  requestStart?(
    jobId: string,
    by: string,
    expectedSeq?: number,
  ): Promise<CommandAnswer | 'queued' | 'not_queued'>;
  /** Resume a failed job into a free lane, checked and done in one step (see `PipelineRunner`). */
  requestResume?(
    jobId: string,
    command: JobCommand,
    expectedSeq?: number,
  ): Promise<CommandAnswer | { noFreeLane: LaneUse }>;
}

type CommandAnswer = { state: JobState; events: unknown[]; position: string | null };
