import type { GateState, JobState, StageState } from './jobState.ts';

export function initialState(): JobState {
  return {
    job_id: null,
    status: 'none',
    pipeline: null,
    params: {},
    stages: [],
    gates: {},
    current_stage: null,
    paused_gate: null,
    seq: -1,
    event_count: 0,
    created_at: null,
    started_at: null,
    updated_at: null,
    finished_at: null,
    reason: null,
    failure_code: null,
  };
}

/** A stage that has not run yet, or that a resume or a rerun sent back to the start. */
export function pendingStage(name: string): StageState {
  return {
    name,
    status: 'pending',
    attempts: 0,
    started_at: null,
    finished_at: null,
    duration_ms: null,
    last_error: null,
  };
}

/** A gate waiting for its stage to complete. */
export function pendingGate(name: string, stage: string, onTimeout: GateState['on_timeout']): GateState {
  return {
    name,
    stage,
    status: 'pending',
    paused_at: null,
    deadline: null,
    on_timeout: onTimeout,
    decided_by: null,
    decided_at: null,
    comment: null,
    by_timer: false,
  };
}
