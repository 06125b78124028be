// Folds a job's events into the bars of its Gantt: the wait in the queue, each stage attempt and each gate
// wait, with their start, end (null while open) and outcome. The rows (stages, and the stage each gate
// belongs to) come from the server's state of the job; payload fields are read by their catalogue names.
// Pure: the picture and the tests share it.
import { payloadField, TERMINAL_STATUSES } from './catalogue.js';

/**
 * @typedef {import('./jobTimeline.js').JobEvent} JobEvent
 * @typedef {import('./jobTimeline.js').JobState} JobState
 * @typedef {'queue' | 'stage' | 'gate'} BarKind
 * @typedef {{ kind: BarKind, row: string, name: string, attempt: number, retry: boolean, start: number,
 *   end: number | null, outcome: string, actor: string | null, detail: string | null }} GanttBar
 * @typedef {{ rows: string[], bars: GanttBar[], t0: number | null, t1: number | null, open: boolean }} GanttModel
 */

export const QUEUE_ROW = 'queue';
const GATE_DECISIONS = /** @type {Record<string, string>} */ ({
  gate_approved: 'approved',
  gate_auto_approved: 'auto_approved',
  gate_rejected: 'rejected',
});

/** A catalogued text field of the event's payload, null when absent. @param {JobEvent} event @param {string} name */
const text = (event, name) => {
  const value = payloadField(event, name);
  return typeof value === 'string' ? value : null;
};

/** The stage rows, and the stage row of each gate, as the server's state has them. @param {JobState | null} state */
function stateRows(state) {
  /** @type {Map<string, string>} */
  const gateRows = new Map();
  for (const gate of Object.values(state?.gates ?? {})) gateRows.set(gate.name, gate.stage);
  return { rows: (state?.stages ?? []).map((stage) => stage.name), gateRows };
}

/**
 * @param {readonly JobEvent[]} events in seq order
 * @param {JobState | null} state the server's state of the job (rows), null before it has answered
 * @returns {GanttModel}
 */
export function ganttModel(events, state) {
  const start = stateRows(state);
  let rows = start.rows;
  /** gate name -> the stage row it belongs to */
  const gateRows = start.gateRows;
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
    switch (event.type) {
      case 'job_created':
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
        const attempt = payloadField(event, 'attempt');
        const number = typeof attempt === 'number' ? attempt : earlier + 1;
        open('stage', name, name, ts, {
          attempt: number,
          retry: payloadField(event, 'retry') === true || number > 1,
        });
        break;
      }
      case 'stage_completed':
      case 'stage_failed':
        close((b) => b.kind === 'stage' && b.name === event.stage, ts, {
          outcome: event.type === 'stage_completed' ? 'completed' : 'failed',
          detail: event.type === 'stage_failed' ? text(event, 'reason') : null,
        });
        break;
      case 'gate_pause': {
        const gate = text(event, 'gate') ?? event.stage ?? '?';
        const row = gateRows.get(gate) ?? event.stage ?? gate;
        ensureRow(row);
        open('gate', row, gate, ts, { detail: text(event, 'deadline') });
        break;
      }
      case 'gate_approved':
      case 'gate_auto_approved':
      case 'gate_rejected': {
        const gate = text(event, 'gate');
        close((b) => b.kind === 'gate' && b.name === gate, ts, {
          outcome: GATE_DECISIONS[event.type] ?? 'decided',
          actor: event.actor,
          // The timer's approval carries no comment.
          detail: event.type === 'gate_auto_approved' ? null : text(event, 'comment'),
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
  return { rows, bars, t0, t1, open: !TERMINAL_STATUSES.includes(status) };
}
