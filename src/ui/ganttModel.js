// Folds a job's events into the bars of its Gantt: the wait in the queue, each stage attempt and each gate
// wait, with their start, end (null while open) and outcome. Pure: the picture and the tests share it.

/**
 * @typedef {import('./jobTimeline.js').JobEvent} JobEvent
 * @typedef {'queue' | 'stage' | 'gate'} BarKind
 * @typedef {{ kind: BarKind, row: string, name: string, attempt: number, retry: boolean, start: number,
 *   end: number | null, outcome: string, actor: string | null, detail: string | null }} GanttBar
 * @typedef {{ rows: string[], bars: GanttBar[], t0: number | null, t1: number | null, open: boolean }} GanttModel
 */

export const QUEUE_ROW = 'queue';
const TERMINAL = ['completed', 'failed', 'canceled'];
const GATE_DECISIONS = /** @type {Record<string, string>} */ ({
  gate_approved: 'approved',
  gate_auto_approved: 'auto_approved',
  gate_rejected: 'rejected',
});

/** @param {Record<string, unknown>} payload @param {string} key */
const text = (payload, key) =>
  typeof payload?.[key] === 'string' ? /** @type {string} */ (payload[key]) : null;

/** @param {unknown} pipeline @returns {{ rows: string[], gateRows: Map<string, string> }} */
function pipelineRows(pipeline) {
  const definition = /** @type {{ stages?: { name: string, gate?: { name?: string } | null }[] } | null} */ (
    pipeline
  );
  const stages = definition?.stages ?? [];
  const gateRows = new Map();
  for (const stage of stages) if (stage.gate) gateRows.set(stage.gate.name ?? stage.name, stage.name);
  return { rows: stages.map((stage) => stage.name), gateRows };
}

/** @param {readonly JobEvent[]} events in seq order @returns {GanttModel} */
export function ganttModel(events) {
  /** @type {string[]} */
  let rows = [];
  /** @type {Map<string, string>} gate name -> the stage row it belongs to */
  let gateRows = new Map();
  /** @type {GanttBar[]} */
  const bars = [];
  /** @type {number | null} */
  let t0 = null;
  /** @type {number | null} */
  let t1 = null;
  let status = 'queued';

  /** @param {(bar: GanttBar) => boolean} which @param {number} end @param {Partial<GanttBar>} change */
  const close = (which, end, change) => {
    for (const bar of bars) if (bar.end === null && which(bar)) Object.assign(bar, { end, ...change });
  };
  /** @param {string} row */
  const ensureRow = (row) => {
    if (!rows.includes(row)) rows = [...rows, row];
  };
  /** @param {BarKind} kind @param {string} row @param {string} name @param {number} start @param {Partial<GanttBar>} [extra] */
  const open = (kind, row, name, start, extra = {}) =>
    bars.push({
      kind,
      row,
      name,
      attempt: 1,
      retry: false,
      start,
      end: null,
      outcome: kind === 'stage' ? 'running' : 'waiting',
      actor: null,
      detail: null,
      ...extra,
    });

  for (const event of events) {
    const ts = Date.parse(event.ts);
    if (!Number.isFinite(ts)) continue;
    t0 ??= ts;
    t1 = ts;
    status = event.status;
    const payload = event.payload ?? {};
    switch (event.type) {
      case 'job_created':
        ({ rows, gateRows } = pipelineRows(payload.pipeline));
        open('queue', QUEUE_ROW, 'queue', ts);
        break;
      case 'job_started':
        close((b) => b.kind === 'queue', ts, { outcome: 'started' });
        break;
      case 'job_resumed':
        // A resumed job may wait for a lane again before its next stage.
        if (event.status === 'queued') open('queue', QUEUE_ROW, 'queue', ts);
        break;
      case 'stage_started': {
        const name = event.stage ?? '?';
        ensureRow(name);
        const earlier = bars.filter((b) => b.kind === 'stage' && b.name === name).length;
        const attempt = typeof payload.attempt === 'number' ? payload.attempt : earlier + 1;
        open('stage', name, name, ts, { attempt, retry: payload.retry === true || attempt > 1 });
        break;
      }
      case 'stage_completed':
      case 'stage_failed':
        close((b) => b.kind === 'stage' && b.name === event.stage, ts, {
          outcome: event.type === 'stage_completed' ? 'completed' : 'failed',
          detail: event.type === 'stage_failed' ? text(payload, 'reason') : null,
        });
        break;
      case 'gate_pause': {
        const gate = text(payload, 'gate') ?? event.stage ?? '?';
        const row = gateRows.get(gate) ?? event.stage ?? gate;
        ensureRow(row);
        open('gate', row, gate, ts, { detail: text(payload, 'deadline') });
        break;
      }
      case 'gate_approved':
      case 'gate_auto_approved':
      case 'gate_rejected': {
        const gate = text(payload, 'gate');
        close((b) => b.kind === 'gate' && b.name === gate, ts, {
          outcome: GATE_DECISIONS[event.type] ?? 'decided',
          actor: event.actor,
          detail: text(payload, 'comment'),
        });
        break;
      }
      case 'job_failed':
      case 'job_canceled':
      case 'job_completed': {
        const outcome = event.type === 'job_completed' ? 'completed' : event.type.slice('job_'.length);
        close((b) => b.kind === 'stage', ts, { outcome });
        close((b) => b.kind !== 'stage', ts, { outcome: outcome === 'completed' ? 'started' : outcome });
        break;
      }
    }
  }
  if (bars.some((b) => b.row === QUEUE_ROW)) rows = [QUEUE_ROW, ...rows.filter((r) => r !== QUEUE_ROW)];
  return { rows, bars, t0, t1, open: !TERMINAL.includes(status) };
}
