import type { JobEvent } from './events.ts';
import { initialState, pendingGate, pendingStage } from './initialState.ts';
import { type GateState, type JobState, ownGate, type StageState } from './jobState.ts';
import { payloadOf } from './payloadOf.ts';
import { gateName } from './pipeline.ts';

/**
 * Folds one event. Total: an event naming an unknown stage or gate, or of a type this version does not know,
 * changes only the job-level fields.
 */
export function evolve(state: JobState, event: JobEvent): JobState {
  // A job's life starts at job_created, whatever was folded before: a job id used again after retention
  // deleted its stream starts from nothing, in a follower that still holds the old job's state too.
  const before = event.type === 'job_created' ? initialState() : state;
  // One new object per event: the event's own changes (a patch over the state) and the job-level fields.
  return {
    ...before,
    ...applyEvent(before, event),
    status: event.status,
    seq: event.seq,
    event_count: before.event_count + 1,
    updated_at: event.ts,
  };
}

/** What one event changes, as the fields to replace (none for a type this version does not know). */
function applyEvent(state: JobState, event: JobEvent): Partial<JobState> | null {
  const { ts, stage } = event;
  switch (event.type) {
    case 'job_created':
      return created(event);
    case 'job_started':
      return { started_at: ts };
    case 'stage_started':
      return {
        stages: withStage(state.stages, stage, (s) => ({
          ...withoutRetryAt(s),
          status: 'running',
          attempts: s.attempts + 1,
          started_at: ts,
          finished_at: null,
          duration_ms: null,
        })),
        current_stage: stage,
      };
    case 'stage_completed':
      return {
        stages: withStage(state.stages, stage, (s) => ({
          ...s,
          status: 'completed',
          finished_at: ts,
          duration_ms: payloadOf(event, 'stage_completed').duration_ms ?? null,
        })),
        current_stage: null,
      };
    case 'stage_failed': {
      const { duration_ms, reason, will_retry, retry_delay_ms } = payloadOf(event, 'stage_failed');
      const retryAt = will_retry ? retryTime(ts, retry_delay_ms) : null;
      return {
        stages: withStage(state.stages, stage, (s) => ({
          ...withoutRetryAt(s),
          status: 'failed',
          finished_at: ts,
          duration_ms: duration_ms ?? null,
          last_error: reason ?? null,
          ...(retryAt === null ? {} : { retry_at: retryAt }),
        })),
        current_stage: null,
      };
    }
    case 'gate_pause':
      return paused(state, event);
    case 'gate_approved':
    case 'gate_auto_approved':
    case 'gate_rejected':
      return decided(state, event);
    case 'job_resumed':
      return resumed(state, event);
    case 'job_completed':
      return {
        stages: state.stages.map(withoutRetryAt),
        current_stage: null,
        paused_gate: null,
        finished_at: ts,
      };
    case 'job_failed': {
      const { reason, code } = payloadOf(event, 'job_failed');
      return {
        stages: stopRunningStage(state.stages, ts, reason ?? 'job failed'),
        current_stage: null,
        paused_gate: null,
        finished_at: ts,
        reason: reason ?? null,
        failure_code: code ?? null,
      };
    }
    case 'job_canceled': {
      const reason = payloadOf(event, 'job_canceled').reason ?? null;
      return {
        stages: stopRunningStage(state.stages, ts, reason ? `job canceled: ${reason}` : 'job canceled'),
        current_stage: null,
        paused_gate: null,
        finished_at: ts,
        reason,
      };
    }
    default:
      return null;
  }
}

function created(event: JobEvent): Partial<JobState> {
  const payload = payloadOf(event, 'job_created');
  const pipeline = payload.pipeline ?? null;
  const stages = pipeline?.stages ?? [];
  const gates: Record<string, GateState> = {};
  for (const stage of stages) {
    const name = gateName(stage);
    if (name) gates[name] = pendingGate(name, stage.name, stage.gate?.on_timeout ?? 'wait');
  }
  return {
    job_id: event.job_id,
    pipeline,
    params: payload.params ?? {},
    stages: stages.map((s) => pendingStage(s.name)),
    gates,
    created_at: event.ts,
  };
}

function paused(state: JobState, event: JobEvent): Partial<JobState> {
  const { gate = null, on_timeout: onTimeout, deadline = null } = payloadOf(event, 'gate_pause');
  return {
    gates: withGate(state.gates, gate, (g) => ({
      ...pendingGate(g.name, g.stage, onTimeout ?? g.on_timeout),
      status: 'paused',
      paused_at: event.ts,
      deadline,
    })),
    current_stage: event.stage,
    paused_gate: gate,
  };
}

function decided(state: JobState, event: JobEvent): Partial<JobState> {
  const status =
    event.type === 'gate_rejected'
      ? 'rejected'
      : event.type === 'gate_approved'
        ? 'approved'
        : 'auto_approved';
  // The three decisions share `gate`, `comment` and `by_timer` with the same types.
  const { gate = null, comment = null, by_timer: byTimer } = payloadOf(event, 'gate_approved');
  return {
    gates: withGate(state.gates, gate, (g) => ({
      ...g,
      status,
      decided_by: event.actor,
      decided_at: event.ts,
      comment,
      by_timer: byTimer ?? event.type === 'gate_auto_approved',
    })),
  };
}

/** `from_stage` (a failed job or a rerun rejection) sends a stage, and its gate, back to the start. */
function resumed(state: JobState, event: JobEvent): Partial<JobState> {
  const restart = payloadOf(event, 'job_resumed').from_stage ?? null;
  const next: Partial<JobState> = {
    current_stage: null,
    paused_gate: null,
    finished_at: null,
    reason: null,
    failure_code: null,
    started_at: state.started_at ?? event.ts,
  };
  if (restart) {
    next.stages = withStage(state.stages, restart, (s) => ({
      ...pendingStage(s.name),
      last_error: s.last_error,
    }));
    const gate = Object.values(state.gates).find((g) => g.stage === restart);
    if (gate)
      next.gates = withGate(state.gates, gate.name, (g) => pendingGate(g.name, g.stage, g.on_timeout));
  }
  return next;
}

/** The job ends: a running stage fails with `error`, and no stage waits for a retry any more. */
function stopRunningStage(stages: StageState[], ts: string, error: string): StageState[] {
  return stages.map((s) =>
    s.status === 'running'
      ? { ...s, status: 'failed', finished_at: ts, last_error: error }
      : withoutRetryAt(s),
  );
}

/** The stage without a pending retry time (the same object when it has none). */
function withoutRetryAt(stage: StageState): StageState {
  if (stage.retry_at === undefined) return stage;
  const { retry_at: _, ...rest } = stage;
  return rest;
}

/**
 * `ts` plus the delay, as the fold's ISO form; null without a positive delay or with a `ts` Date cannot
 * read.
 */
function retryTime(ts: string, delayMs: number | undefined): string | null {
  if (delayMs === undefined || delayMs <= 0) return null;
  const at = Date.parse(ts) + delayMs;
  return Number.isFinite(at) && Math.abs(at) <= MAX_DATE_MS ? new Date(at).toISOString() : null;
}

/** The largest time a `Date` holds (ms either side of the epoch). */
const MAX_DATE_MS = 8.64e15;

/** The stages with the one named `name` changed (every stage of that name, as a pipeline never repeats one). */
function withStage(
  stages: StageState[],
  name: string | null,
  change: (s: StageState) => StageState,
): StageState[] {
  const at = stages.findIndex((s) => s.name === name);
  if (at < 0) return stages;
  const next = stages.slice();
  for (let i = at; i < next.length; i++) {
    const s = next[i] as StageState;
    if (s.name === name) next[i] = change(s);
  }
  return next;
}

function withGate(
  gates: Record<string, GateState>,
  name: string | null,
  change: (g: GateState) => GateState,
): Record<string, GateState> {
  const gate = ownGate(gates, name);
  if (!gate || name === null) return gates;
  return { ...gates, [name]: change(gate) };
}
