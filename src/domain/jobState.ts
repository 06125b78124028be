import type { JobEvent, JobStatus, Payload } from './events.ts';
import type { PipelineDefinition } from './pipeline.ts';

export type StageStatus = 'pending' | 'running' | 'completed' | 'failed';

export interface StageState {
  name: string;
  status: StageStatus;
  /** Number of `stage_started` since the stage was last reset (resume / rerun reset it to 0). */
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  last_error: string | null;
  /**
   * When a failed stage's next attempt may start (ISO): the failure's `ts` plus the `retry_delay_ms` of its
   * `stage_failed`. Present only while that wait is pending: a stage that starts again, a job that ends and
   * a failure without a delay leave none, so the states of jobs without `retry_delay` are what they were.
   */
  retry_at?: string;
}

export type GateStatus = 'pending' | 'paused' | 'approved' | 'rejected' | 'auto_approved';

export interface GateState {
  name: string;
  stage: string;
  status: GateStatus;
  paused_at: string | null;
  /** ISO deadline from the `gate_pause` payload, or null when the gate has no timeout. */
  deadline: string | null;
  on_timeout: 'approve' | 'reject' | 'wait';
  decided_by: string | null;
  decided_at: string | null;
  comment: string | null;
  by_timer: boolean;
}

/** The folded state of one job: what `state.json` holds and what the decider decides on. */
export interface JobState {
  job_id: string | null;
  /** `none` until `job_created`. */
  status: JobStatus | 'none';
  pipeline: PipelineDefinition | null;
  params: Payload;
  stages: StageState[];
  gates: Record<string, GateState>;
  current_stage: string | null;
  /** The gate the job is paused at, if any. */
  paused_gate: string | null;
  /** seq of the last event folded; -1 before any. */
  seq: number;
  event_count: number;
  created_at: string | null;
  started_at: string | null;
  updated_at: string | null;
  finished_at: string | null;
  /** Why the job failed or was canceled. */
  reason: string | null;
  /**
   * The `code` of the `job_failed` payload: `stage_failed`, `gate_rejected`, `job_failed` (by a command) or
   * `max_events_exceeded`; null otherwise. Optional so that states stored before it existed still type-check.
   */
  failure_code?: string | null;
}

export type Evolve = (state: JobState, event: JobEvent) => JobState;

/**
 * The entry for a gate of that name in a map keyed by gate name (a job's gates, their files), if it has one.
 * Only the map's own entries: a name from outside (a URL, an event's payload, a file name) such as
 * `constructor` or `__proto__` must not find what every object inherits.
 */
export function ownGate<G = GateState>(
  gates: Readonly<Record<string, G>>,
  name: string | null,
): G | undefined {
  return name !== null && Object.hasOwn(gates, name) ? gates[name] : undefined;
}
