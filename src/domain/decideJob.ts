import type { CancelJob, CreateJob, FailJob, LaneUse, ResumeJob, StartJob } from './commands.ts';
import { DomainRuleError, InvalidCommandError } from './errors.ts';
import { JOB_ID_PATTERN, JOB_ID_RULE, type NewJobEvent } from './events.ts';
import { assertJobExists } from './jobGuards.ts';
import { jobMessages } from './jobMessages.ts';
import { isJobTerminal, jobExists, resumeStage } from './jobPredicates.ts';
import type { JobState } from './jobState.ts';
import { newJobEvent } from './newJobEvent.ts';
import { gateName, type PipelineDefinition } from './pipeline.ts';

export function decideCreateJob(command: CreateJob, state: JobState): NewJobEvent[] {
  if (jobExists(state))
    throw new DomainRuleError('job_exists', `job ${state.job_id ?? command.job_id} already exists`, {
      status: state.status,
    });
  if (!JOB_ID_PATTERN.test(command.job_id))
    throw new InvalidCommandError('invalid_job_id', `job id ${JOB_ID_RULE}`, {
      job_id: command.job_id,
    });
  assertValidPipeline(command.pipeline);
  return [
    newJobEvent(command, 'job_created', {
      stage: null,
      status: 'queued',
      message: jobMessages.created(command.job_id, command.actor, command.pipeline),
      payload: { pipeline: structuredClone(command.pipeline), params: structuredClone(command.params) },
    }),
  ];
}

export function decideStartJob(command: StartJob, state: JobState): NewJobEvent[] {
  if (state.status !== 'queued')
    throw new DomainRuleError('job_already_started', `job is ${state.status}: it was already started`, {
      status: state.status,
    });
  return [
    newJobEvent(command, 'job_started', {
      stage: null,
      status: 'running',
      message: jobMessages.started(command.actor),
      payload: {
        ...(command.requested_by === undefined ? {} : { requested_by: command.requested_by }),
        ...forced(command),
      },
    }),
  ];
}

export function decideFailJob(command: FailJob, state: JobState): NewJobEvent[] {
  return [
    newJobEvent(command, 'job_failed', {
      stage: state.current_stage,
      status: 'failed',
      message: jobMessages.failedBy(command.actor, command.reason),
      payload: { ...command.payload, reason: command.reason, code: 'job_failed', stage: state.current_stage },
    }),
  ];
}

export function decideCancelJob(command: CancelJob, state: JobState): NewJobEvent[] {
  const reason = command.reason ?? null;
  return [
    newJobEvent(command, 'job_canceled', {
      stage: state.current_stage,
      status: 'canceled',
      message: jobMessages.canceled(command.actor, reason),
      payload: { reason, previous_status: state.status, stage: state.current_stage },
    }),
  ];
}

/** Only a failed job resumes, from the stage that stopped it; a job the event cap failed has no room left. */
export function decideResumeJob(command: ResumeJob, state: JobState): NewJobEvent[] {
  assertJobExists(state);
  if (state.status !== 'failed') {
    const code = isJobTerminal(state) ? 'job_terminal' : 'not_failed';
    throw new DomainRuleError(code, `job is ${state.status}: only a failed job can be resumed`, {
      status: state.status,
    });
  }
  if (state.failure_code === 'max_events_exceeded')
    throw new DomainRuleError(
      'event_cap_reached',
      `job failed because it reached max_events_per_job: ${state.reason}`,
    );
  const fromStage = resumeStage(state);
  if (fromStage === null)
    throw new DomainRuleError('nothing_to_resume', 'every stage of the job is completed: nothing to resume');
  const reason = command.reason ?? null;
  return [
    newJobEvent(command, 'job_resumed', {
      stage: fromStage,
      status: 'running',
      message: jobMessages.resumedAfterFailure(command.actor, fromStage, reason),
      payload: { reason, from_stage: fromStage, previous_reason: state.reason, ...forced(command) },
    }),
  ];
}

/** A start or resume beyond `pipeline.lanes` says so in its payload (the actor is the admin who forced it). */
function forced(command: StartJob | ResumeJob): { forced?: true; lanes?: LaneUse | null } {
  return command.force ? { forced: true, lanes: command.lanes ?? null } : {};
}

function assertValidPipeline(pipeline: PipelineDefinition): void {
  const stages = pipeline.stages.map((s) => s.name);
  const gates = pipeline.stages.map(gateName).filter((g): g is string => g !== null);
  const problem =
    stages.length === 0
      ? 'it has no stage'
      : new Set(stages).size !== stages.length
        ? 'two stages have the same name'
        : new Set(gates).size !== gates.length
          ? 'two gates have the same name'
          : null;
  if (problem)
    throw new InvalidCommandError('invalid_pipeline', `pipeline ${pipeline.name} is invalid: ${problem}`, {
      stages,
      gates,
    });
}
