import type { Payload } from './events.ts';
import type { PipelineDefinition } from './pipeline.ts';

/** Stage reports also come from external workers over the API; those may not touch a stage with `run`. */
interface StageReport {
  /** True when an external worker reports it (API), not the runner. */
  worker?: boolean;
}

interface CommandBase {
  /** Who issues it: a token name, or a system actor (`runner`, `timer`: `actors.ts`). Recorded as the event's actor. */
  actor: string;
  /** ISO time of the decision (injected clock). */
  ts: string;
}

export type CreateJob = CommandBase & {
  type: 'create_job';
  job_id: string;
  pipeline: PipelineDefinition;
  params: Payload;
};
/** Lanes in use when a start or resume was decided: recorded when it ran beyond the limit (`force`). */
export interface LaneUse {
  limit: number;
  occupied: number;
}
export type StartJob = CommandBase & {
  type: 'start_job';
  /** An admin ran it beyond `pipeline.lanes`. */
  force?: boolean;
  lanes?: LaneUse;
  /** Who asked for it when the runner starts it for them (the queue front). */
  requested_by?: string;
};
export type StartStage = CommandBase &
  StageReport & { type: 'start_stage'; stage: string; payload?: Payload };
export type CompleteStage = CommandBase &
  StageReport & {
    type: 'complete_stage';
    stage: string;
    duration_ms?: number;
    exit_code?: number;
    payload?: Payload;
  };
export type FailStage = CommandBase &
  StageReport & {
    type: 'fail_stage';
    stage: string;
    reason: string;
    /** false: no retry whatever the policy says (e.g. an external worker gave up). Default true. */
    retryable?: boolean;
    payload?: Payload;
  };
export type ApproveGate = CommandBase & {
  type: 'approve_gate';
  gate: string;
  comment?: string;
  /** The reviewer's own fields (the seed's `metadata`); the decision's fields win over them. */
  payload?: Payload;
};
export type RejectGate = CommandBase & {
  type: 'reject_gate';
  gate: string;
  comment?: string;
  reason?: string;
  payload?: Payload;
  /** The gate timer rejects at the deadline (`on_timeout: reject`); never set for a person's rejection. */
  by_timer?: boolean;
};
/** The gate timer's `on_timeout: approve`. */
export type AutoApproveGate = CommandBase & { type: 'auto_approve_gate'; gate: string };
export type FailJob = CommandBase & { type: 'fail_job'; reason: string; payload?: Payload };
export type CancelJob = CommandBase & { type: 'cancel_job'; reason?: string };
/** Restarts a failed job from its failed stage. */
export type ResumeJob = CommandBase & {
  type: 'resume_job';
  reason?: string;
  force?: boolean;
  lanes?: LaneUse;
};

export type JobCommand =
  | CreateJob
  | StartJob
  | StartStage
  | CompleteStage
  | FailStage
  | ApproveGate
  | RejectGate
  | AutoApproveGate
  | FailJob
  | CancelJob
  | ResumeJob;

export interface DecideOptions {
  /** `storage.max_events_per_job`. */
  maxEventsPerJob: number;
}
