// Folds a job's events into what the page draws: the job's status and, per stage, its state and gate. It
// follows the server's fold (src/domain/jobEvolve.ts) for the fields the page shows.

/**
 * @typedef {{ status: string, decided_by: string | null, decided_at: string | null, comment: string | null,
 *   deadline: string | null, paused_at: string | null, by_timer: boolean }} GateView
 * @typedef {{ name: string, gate: string | null, runs: boolean,
 *   status: 'pending' | 'running' | 'completed' | 'failed',
 *   attempts: number, started_at: string | null, finished_at: string | null, duration_ms: number | null,
 *   last_error: string | null, gateState: GateView | null }} StageView
 * @typedef {{ status: string, pipeline: string | null, stages: StageView[], current_stage: string | null,
 *   paused_gate: string | null, reason: string | null, updated_at: string | null, seq: number }} JobView
 * @typedef {{ seq: number, ts: string, type: string, stage: string | null, status: string, message: string,
 *   payload: Record<string, unknown>, actor: string }} JobEvent
 */

/** @returns {JobView} */
export function emptyJob() {
  return {
    status: 'queued',
    pipeline: null,
    stages: [],
    current_stage: null,
    paused_gate: null,
    reason: null,
    updated_at: null,
    seq: -1,
  };
}

/** @param {Record<string, unknown>} payload @param {string} key */
const str = (payload, key) =>
  typeof payload[key] === 'string' ? /** @type {string} */ (payload[key]) : null;

/** @param {unknown} stage @returns {string | null} */
function gateOf(stage) {
  const s = /** @type {{ name: string, gate?: { name?: string } }} */ (stage);
  if (!s.gate) return null;
  return s.gate.name ?? s.name;
}

/** @returns {GateView} */
const pendingGate = () => ({
  status: 'pending',
  decided_by: null,
  decided_at: null,
  comment: null,
  deadline: null,
  paused_at: null,
  by_timer: false,
});

/** @param {JobView} job @param {JobEvent} event @returns {JobView} */
export function applyEvent(job, event) {
  const next = { ...job, status: event.status, updated_at: event.ts, seq: event.seq };
  const { payload, ts } = event;
  /** @param {string | null} name @param {(s: StageView) => StageView} change */
  const stage = (name, change) => {
    next.stages = next.stages.map((s) => (s.name === name ? change(s) : s));
  };
  /** @param {string | null} name @param {(g: GateView) => GateView} change */
  const gate = (name, change) => {
    next.stages = next.stages.map((s) =>
      s.gate !== null && s.gate === name ? { ...s, gateState: change(s.gateState ?? pendingGate()) } : s,
    );
  };
  /** @param {string} error */
  const stopRunning = (error) => {
    next.stages = next.stages.map((s) =>
      s.status === 'running' ? { ...s, status: 'failed', finished_at: ts, last_error: error } : s,
    );
    next.current_stage = null;
    next.paused_gate = null;
  };
  switch (event.type) {
    case 'job_created': {
      const pipeline = /** @type {{ name?: string, stages?: unknown[] }} */ (payload.pipeline ?? {});
      next.pipeline = pipeline.name ?? null;
      next.stages = (pipeline.stages ?? []).map((s) => {
        const gateName = gateOf(s);
        const definition = /** @type {{ name: string, run?: string }} */ (s);
        return {
          name: definition.name,
          gate: gateName,
          runs: typeof definition.run === 'string',
          status: 'pending',
          attempts: 0,
          started_at: null,
          finished_at: null,
          duration_ms: null,
          last_error: null,
          gateState: gateName ? pendingGate() : null,
        };
      });
      break;
    }
    case 'stage_started':
      stage(event.stage, (s) => ({
        ...s,
        status: 'running',
        attempts: s.attempts + 1,
        started_at: ts,
        finished_at: null,
        duration_ms: null,
      }));
      next.current_stage = event.stage;
      break;
    case 'stage_completed':
    case 'stage_failed':
      stage(event.stage, (s) => ({
        ...s,
        status: event.type === 'stage_completed' ? 'completed' : 'failed',
        finished_at: ts,
        duration_ms: typeof payload.duration_ms === 'number' ? payload.duration_ms : null,
        last_error: event.type === 'stage_failed' ? str(payload, 'reason') : s.last_error,
      }));
      next.current_stage = null;
      break;
    case 'gate_pause':
      gate(str(payload, 'gate'), () => ({
        ...pendingGate(),
        status: 'paused',
        paused_at: ts,
        deadline: str(payload, 'deadline'),
      }));
      next.current_stage = event.stage;
      next.paused_gate = str(payload, 'gate');
      break;
    case 'gate_approved':
    case 'gate_auto_approved':
    case 'gate_rejected':
      gate(str(payload, 'gate'), (g) => ({
        ...g,
        status: { gate_approved: 'approved', gate_auto_approved: 'auto_approved', gate_rejected: 'rejected' }[
          event.type
        ],
        decided_by: event.actor,
        decided_at: ts,
        comment: str(payload, 'comment'),
        by_timer: payload.by_timer === true,
      }));
      next.paused_gate = null;
      break;
    case 'job_resumed': {
      const restart = str(payload, 'from_stage');
      next.current_stage = null;
      next.paused_gate = null;
      next.reason = null;
      if (restart) {
        stage(restart, (s) => ({
          ...s,
          status: 'pending',
          attempts: 0,
          started_at: null,
          finished_at: null,
          duration_ms: null,
          gateState: s.gate ? pendingGate() : null,
        }));
      }
      break;
    }
    case 'job_completed':
      next.current_stage = null;
      next.paused_gate = null;
      break;
    case 'job_failed':
      stopRunning(str(payload, 'reason') ?? 'job failed');
      next.reason = str(payload, 'reason');
      break;
    case 'job_canceled': {
      const reason = str(payload, 'reason');
      stopRunning(reason ? `job canceled: ${reason}` : 'job canceled');
      next.reason = reason;
      break;
    }
  }
  return next;
}

/**
 * What the timeline shows for a stage: `gated` while the job waits at its gate, else the stage's state.
 * @param {StageView} stage
 */
export function displayStatus(stage) {
  return stage.gateState?.status === 'paused' ? 'gated' : stage.status;
}

/** The stage whose log is most worth following: the running one, else the last one started. @param {JobView} job */
export function liveStage(job) {
  const running = job.stages.find((s) => s.status === 'running');
  if (running) return running.name;
  const started = job.stages
    .filter((s) => s.started_at)
    .sort((a, b) => String(a.started_at).localeCompare(String(b.started_at)));
  return started.at(-1)?.name ?? job.stages[0]?.name ?? null;
}
