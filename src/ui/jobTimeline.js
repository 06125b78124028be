// What the job page's timeline shows, read off the server's folded state of the job
// (GET /jobs/{id}/state): the page never folds events itself, so it shows exactly what the decider sees.

/**
 * @typedef {{ name: string, stage: string, status: 'pending' | 'paused' | 'approved' | 'rejected' | 'auto_approved',
 *   paused_at: string | null, deadline: string | null, on_timeout: string, decided_by: string | null,
 *   decided_at: string | null, comment: string | null, by_timer: boolean }} GateState
 * @typedef {{ name: string, status: 'pending' | 'running' | 'completed' | 'failed', attempts: number,
 *   started_at: string | null, finished_at: string | null, duration_ms: number | null,
 *   last_error: string | null, retry_at?: string }} StageState
 * @typedef {{ job_id: string | null, status: string, seq: number,
 *   pipeline: { name: string, stages: { name: string, run?: string }[] } | null,
 *   stages: StageState[], gates: Record<string, GateState>, current_stage: string | null,
 *   paused_gate: string | null, updated_at: string | null, reason: string | null }} JobState
 * @typedef {StageState & { gate: GateState | null, runs: boolean }} StageView
 * @typedef {{ seq: number, ts: string, type: string, stage: string | null, status: string, message: string,
 *   payload: Record<string, unknown>, actor: string }} JobEvent
 */

/** Each stage of the state with its gate (if it has one) and whether the runner runs it. @param {JobState} state @returns {StageView[]} */
export function stageViews(state) {
  const gates = Object.values(state.gates);
  return state.stages.map((stage) => ({
    ...stage,
    gate: gates.find((g) => g.stage === stage.name) ?? null,
    runs: typeof state.pipeline?.stages.find((s) => s.name === stage.name)?.run === 'string',
  }));
}

/**
 * What the timeline shows for a stage: `gated` while the job waits at its gate, else the stage's state.
 * @param {StageView} stage
 */
export function displayStatus(stage) {
  return stage.gate?.status === 'paused' ? 'gated' : stage.status;
}

/** The stage whose log is most worth following: the running one, else the last one started. @param {JobState} state */
export function liveStage(state) {
  const running = state.stages.find((s) => s.status === 'running');
  if (running) return running.name;
  const started = state.stages
    .filter((s) => s.started_at)
    .sort((a, b) => String(a.started_at).localeCompare(String(b.started_at)));
  return started.at(-1)?.name ?? state.stages[0]?.name ?? null;
}
