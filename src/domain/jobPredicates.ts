import { isTerminal } from './events.ts';
import { type GateState, type JobState, ownGate, type StageState } from './jobState.ts';
import { type GateDefinition, MAX_RETRY_DELAY_MS, type StageDefinition } from './pipeline.ts';

export function jobExists(state: JobState): boolean {
  return state.status !== 'none';
}

export function isJobTerminal(state: JobState): boolean {
  return state.status !== 'none' && isTerminal(state.status);
}

export function stageDefinition(state: JobState, stage: string): StageDefinition | null {
  return state.pipeline?.stages.find((s) => s.name === stage) ?? null;
}

export function stageState(state: JobState, stage: string): StageState | null {
  return state.stages.find((s) => s.name === stage) ?? null;
}

/** The stage a gate belongs to, with the gate's configuration. */
export function gateDefinition(
  state: JobState,
  gate: string,
): { stage: StageDefinition; gate: GateDefinition } | null {
  const gateState = ownGate(state.gates, gate);
  const stage = gateState ? stageDefinition(state, gateState.stage) : null;
  return stage?.gate ? { stage, gate: stage.gate } : null;
}

export function gateOfStage(state: JobState, stage: string): GateState | null {
  return Object.values(state.gates).find((g) => g.stage === stage) ?? null;
}

export function runningStage(state: JobState): StageState | null {
  return state.stages.find((s) => s.status === 'running') ?? null;
}

/** The first stage, in pipeline order, that has not completed. */
export function nextStage(state: JobState): StageState | null {
  return state.stages.find((s) => s.status !== 'completed') ?? null;
}

export function isLastStage(state: JobState, stage: string): boolean {
  return state.stages.at(-1)?.name === stage;
}

/** `attempts` counts the starts so far, so a stage with `retries: 2` may run 3 times. */
export function hasRetriesLeft(state: JobState, stage: string): boolean {
  const attempts = stageState(state, stage)?.attempts ?? 0;
  return attempts <= (stageDefinition(state, stage)?.retries ?? 0);
}

/**
 * When a failed stage with retries left may start again (ms since the epoch): its last attempt's end plus
 * `retry_delay`, doubled for each attempt after the first, at most `MAX_RETRY_DELAY_MS`. Null when it may
 * start at once (no delay configured, or not a failed stage).
 */
export function retryDueAt(state: JobState, stage: string): number | null {
  const current = stageState(state, stage);
  if (current?.status !== 'failed' || current.finished_at === null) return null;
  const delay = retryDelayMs(state, stage, current.attempts);
  const ended = Date.parse(current.finished_at);
  if (delay === 0 || Number.isNaN(ended)) return null;
  return ended + delay;
}

/** The wait before the retry that follows failed attempt number `attempt` (1-based); 0: at once. */
export function retryDelayMs(state: JobState, stage: string, attempt: number): number {
  const base = stageDefinition(state, stage)?.retry_delay ?? 0;
  if (base <= 0) return 0;
  return Math.min(base * 2 ** Math.max(0, attempt - 1), MAX_RETRY_DELAY_MS);
}

export function maxAttempts(state: JobState, stage: string): number {
  return (stageDefinition(state, stage)?.retries ?? 0) + 1;
}

export function isPausedAt(state: JobState, gate: string): boolean {
  return (
    state.status === 'paused' && state.paused_gate === gate && ownGate(state.gates, gate)?.status === 'paused'
  );
}

export function isGateDecided(gate: GateState): boolean {
  return gate.status === 'approved' || gate.status === 'rejected' || gate.status === 'auto_approved';
}

/**
 * The stage a failed job restarts from: the failed stage; else the stage whose gate stopped the job
 * (rejected, or still paused when the job was failed); else the next stage to run.
 */
export function resumeStage(state: JobState): string | null {
  const failed = state.stages.find((s) => s.status === 'failed');
  if (failed) return failed.name;
  const blockingGate = Object.values(state.gates).find(
    (g) => g.status === 'rejected' || g.status === 'paused',
  );
  if (blockingGate) return blockingGate.stage;
  return nextStage(state)?.name ?? null;
}

/**
 * The deadline of the gate the job is paused at, for the gate timer; null when the job is not paused
 * or the gate has no timeout. `on_timeout: 'wait'` is returned too: the timer decides what it means.
 */
export function pendingGateDeadline(
  state: JobState,
): { gate: string; deadline: string; on_timeout: GateState['on_timeout'] } | null {
  if (state.status !== 'paused' || state.paused_gate === null) return null;
  const gate = ownGate(state.gates, state.paused_gate);
  if (gate?.status !== 'paused' || gate.deadline === null) return null;
  return { gate: gate.name, deadline: gate.deadline, on_timeout: gate.on_timeout };
}
