import type { CompleteStage, FailStage, StartStage } from './commands.ts';
import { DomainRuleError } from './errors.ts';
import type { NewJobEvent } from './events.ts';
import { assertWorkerMayReport, requireStage } from './jobGuards.ts';
import { jobMessages } from './jobMessages.ts';
import {
  gateDefinition,
  gateOfStage,
  hasRetriesLeft,
  isLastStage,
  maxAttempts,
  nextStage,
  retryDelayMs,
  runningStage,
} from './jobPredicates.ts';
import type { JobState, StageState } from './jobState.ts';
import { elapsedMs, newJobEvent } from './newJobEvent.ts';

export function decideStartStage(command: StartStage, state: JobState): NewJobEvent[] {
  const stage = requireStage(state, command.stage);
  assertWorkerMayReport(state, stage.name, command.worker);
  assertRunning(state);
  const running = runningStage(state);
  if (running)
    throw new DomainRuleError('stage_already_running', `stage ${running.name} is running`, {
      running: running.name,
    });
  const next = nextStage(state);
  if (next?.name !== stage.name)
    throw new DomainRuleError(
      'stage_out_of_order',
      `stage ${stage.name} cannot start: the next stage is ${next?.name ?? 'none'}`,
      { stage: stage.name, next: next?.name ?? null },
    );
  if (stage.status === 'failed' && !hasRetriesLeft(state, stage.name))
    throw new DomainRuleError('retries_exhausted', `stage ${stage.name} has no retries left`, {
      attempts: stage.attempts,
    });
  const attempt = stage.attempts + 1;
  const max = maxAttempts(state, stage.name);
  return [
    newJobEvent(command, 'stage_started', {
      stage: stage.name,
      status: 'running',
      message: jobMessages.stageStarted(stage.name, attempt, max),
      payload: { ...command.payload, attempt, max_attempts: max, retry: attempt > 1 },
    }),
  ];
}

export function decideCompleteStage(command: CompleteStage, state: JobState): NewJobEvent[] {
  assertWorkerMayReport(state, command.stage, command.worker);
  const stage = requireRunningStage(state, command.stage);
  const durationMs = command.duration_ms ?? elapsedMs(stage.started_at, command.ts);
  const completed = newJobEvent(command, 'stage_completed', {
    stage: stage.name,
    status: 'running',
    message: jobMessages.stageCompleted(stage.name, durationMs),
    payload: {
      ...command.payload,
      attempt: stage.attempts,
      duration_ms: durationMs,
      exit_code: command.exit_code ?? null,
    },
  });
  const gate = gateOfStage(state, stage.name);
  if (gate) return [completed, gatePause(command, state, gate.name)];
  if (isLastStage(state, stage.name)) return [completed, jobCompleted(command, state)];
  return [completed];
}

export function decideFailStage(command: FailStage, state: JobState): NewJobEvent[] {
  assertWorkerMayReport(state, command.stage, command.worker);
  const stage = requireRunningStage(state, command.stage);
  const retryable = command.retryable !== false;
  const willRetry = retryable && hasRetriesLeft(state, stage.name);
  const retryDelay = willRetry ? retryDelayMs(state, stage.name, stage.attempts) : 0;
  const failure = jobMessages.stageFailure(
    stage.name,
    stage.attempts,
    maxAttempts(state, stage.name),
    willRetry,
  );
  const failed = newJobEvent(command, 'stage_failed', {
    stage: stage.name,
    status: 'running',
    message: jobMessages.stageFailed(failure, command.reason, willRetry, retryDelay),
    payload: {
      ...command.payload,
      reason: command.reason,
      attempt: stage.attempts,
      max_attempts: maxAttempts(state, stage.name),
      retryable,
      will_retry: willRetry,
      duration_ms: elapsedMs(stage.started_at, command.ts),
      ...(retryDelay > 0 ? { retry_delay_ms: retryDelay } : {}),
    },
  });
  if (willRetry) return [failed];
  return [
    failed,
    newJobEvent(command, 'job_failed', {
      stage: stage.name,
      status: 'failed',
      message: jobMessages.failed(failure, command.reason),
      payload: { reason: command.reason, code: 'stage_failed', stage: stage.name, attempts: stage.attempts },
    }),
  ];
}

/** The job's last event when its final stage is done (directly or after its gate was approved). */
export function jobCompleted(command: { ts: string; actor: string }, state: JobState): NewJobEvent {
  const durationMs = elapsedMs(state.started_at, command.ts);
  return newJobEvent(command, 'job_completed', {
    stage: null,
    status: 'completed',
    message: jobMessages.completed(state.stages.length, durationMs),
    payload: { stages: state.stages.length, duration_ms: durationMs },
  });
}

function gatePause(command: CompleteStage, state: JobState, gate: string): NewJobEvent {
  const definition = gateDefinition(state, gate);
  const timeoutMs = definition?.gate.timeout ?? null;
  const onTimeout = definition?.gate.on_timeout ?? 'wait';
  const deadline = timeoutMs === null ? null : new Date(Date.parse(command.ts) + timeoutMs).toISOString();
  return newJobEvent(command, 'gate_pause', {
    stage: command.stage,
    status: 'paused',
    message: jobMessages.gatePaused(gate, deadline, onTimeout),
    payload: {
      gate,
      deadline,
      on_timeout: onTimeout,
      timeout_ms: timeoutMs,
      on_reject: definition?.gate.on_reject ?? 'fail',
    },
  });
}

function assertRunning(state: JobState): void {
  if (state.status === 'running') return;
  const why = state.status === 'paused' ? `paused at gate ${state.paused_gate}` : state.status;
  throw new DomainRuleError('not_running', `job is ${why}, not running`, {
    status: state.status,
    paused_gate: state.paused_gate,
  });
}

function requireRunningStage(state: JobState, name: string): StageState {
  const stage = requireStage(state, name);
  if (stage.status !== 'running')
    throw new DomainRuleError('stage_not_running', `stage ${name} is ${stage.status}, not running`, {
      stage: name,
      status: stage.status,
      running: runningStage(state)?.name ?? null,
    });
  return stage;
}
