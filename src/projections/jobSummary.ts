import type { EventType, JobEvent, JobStatus, Payload } from '../domain/events.ts';
import type { JobState } from '../domain/jobState.ts';

/**
 * A row of the read model's jobs table: what a listing shows, without the stages and gates. (A type, not
 * an interface, so that it is assignable to index-signature shapes such as the API's.)
 */
export type JobSummary = {
  job_id: string;
  /** The pipeline's name. */
  pipeline: string | null;
  /** Never `none`: a row exists once the job has an event. */
  status: JobStatus;
  current_stage: string | null;
  paused_gate: string | null;
  /** seq of the last event. */
  seq: number;
  /** position of the last event. */
  head_position: string;
  event_count: number;
  stages_total: number;
  stages_completed: number;
  last_event_type: EventType;
  last_message: string;
  created_at: string | null;
  started_at: string | null;
  updated_at: string | null;
  finished_at: string | null;
  reason: string | null;
  failure_code: string | null;
  params: Payload;
};

export function toJobSummary(jobId: string, state: JobState, last: JobEvent): JobSummary {
  return {
    job_id: jobId,
    pipeline: state.pipeline?.name ?? null,
    status: state.status === 'none' ? last.status : state.status,
    current_stage: state.current_stage,
    paused_gate: state.paused_gate,
    seq: state.seq,
    head_position: last.position,
    event_count: state.event_count,
    stages_total: state.stages.length,
    stages_completed: state.stages.filter((s) => s.status === 'completed').length,
    last_event_type: last.type,
    last_message: last.message,
    created_at: state.created_at,
    started_at: state.started_at,
    updated_at: state.updated_at,
    finished_at: state.finished_at,
    reason: state.reason,
    failure_code: state.failure_code ?? null,
    params: state.params,
  };
}
