import { z } from 'zod';
import type { JobEvent } from '../domain/events.ts';
import { EVENT_TYPES, JOB_STATUSES, payloadSchema } from '../domain/events.ts';
import type { JobState } from '../domain/jobState.ts';

const time = z.string().nullable();

/**
 * A job as listings, `GET /jobs/{id}`, command answers and the CLI show it: a row of the read model's jobs
 * table (what a listing shows, without the stages and gates), plus the queue facts the serving process adds.
 * The one description of the shape: the type, the OpenAPI document and the CLI's reading derive from it.
 */
export const jobSummarySchema = z.object({
  job_id: z.string(),
  pipeline: z.string().nullable().describe("the pipeline's name"),
  status: z.enum(JOB_STATUSES).describe('never `none`: a row exists once the job has an event'),
  current_stage: z.string().nullable(),
  paused_gate: z.string().nullable().describe('the gate the job is paused at, if any'),
  seq: z.number().int().describe('seq of the last event (the ETag of `GET /jobs/{id}`)'),
  head_position: z.string().describe('store position of the last event'),
  event_count: z.number().int(),
  stages_total: z.number().int(),
  stages_completed: z.number().int(),
  last_event_type: z.enum(EVENT_TYPES),
  last_message: z.string(),
  created_at: time,
  started_at: time,
  updated_at: time,
  finished_at: time,
  reason: z.string().nullable().describe('why the job failed or was canceled'),
  failure_code: z
    .string()
    .nullable()
    .describe('the `code` of the `job_failed` payload (`stage_failed`, `gate_rejected`, ...), else null'),
  params: payloadSchema.describe('the job parameters (left out of listing rows)'),
  queue_position: z
    .number()
    .int()
    .nullable()
    .optional()
    .describe('1 for the next queued job to start; only from a process that knows the queue'),
  lane: z
    .number()
    .int()
    .nullable()
    .optional()
    .describe('the lane the job holds while it holds one; only from a process that knows the queue'),
});

export type JobSummary = z.infer<typeof jobSummarySchema>;

/** A listing row: the summary without `params` (up to the payload limit each), so a page stays small. */
export const jobListRowSchema = jobSummarySchema.omit({ params: true });
export type JobListRow = z.infer<typeof jobListRowSchema>;

/** The summary of a job folded up to `last`, its last event. */
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
