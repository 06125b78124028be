// One bar of the job page's Gantt: its rectangle (a stage attempt, a gate wait or the wait for a lane), its
// marks and its tooltip.
import { formatDuration, formatTime } from './dom.js';
import { px, s } from './svg.js';

/** @typedef {import('./ganttModel.js').GanttBar} GanttBar */

export const ROW_HEIGHT = 30;
const BAR_HEIGHT = 18;

/** Stage outcome -> fill; texts on them stay dark or white for contrast. */
const FILL = /** @type {Record<string, string>} */ ({
  running: '#2563eb',
  completed: '#15803d',
  failed: '#b91c1c',
  canceled: '#6b7280',
});

/** What a bar says in its tooltip (and to a screen reader through the figure's description). @param {GanttBar} bar @param {number} end */
function describe(bar, end) {
  const took = formatDuration(end - bar.start);
  const from = `from ${formatTime(new Date(bar.start).toISOString())}`;
  if (bar.kind === 'queue') return `queued ${took} ${from}${bar.end === null ? ', still waiting' : ''}`;
  if (bar.kind === 'gate') {
    const who = bar.actor ? ` by ${bar.actor}` : '';
    const state = bar.end === null ? 'waiting for a decision' : `${bar.outcome.replace('_', ' ')}${who}`;
    return `gate ${bar.name}: ${state} after ${took} ${from}${bar.detail && bar.end !== null ? `: “${bar.detail}”` : ''}`;
  }
  const attempt = bar.attempt > 1 ? ` attempt ${bar.attempt}` : '';
  const reason = bar.outcome === 'failed' && bar.detail ? `: ${bar.detail}` : '';
  return `stage ${bar.name}${attempt}: ${bar.outcome} after ${took} ${from}${reason}`;
}

/** An upper bound of a label character's width at the picture's 12 px: where a label would end. */
const LABEL_CHAR_PX = 7;

/** The short label drawn after a gate bar: who decided. @param {GanttBar} bar */
function gateLabel(bar) {
  if (bar.end === null) return 'waiting';
  if (bar.outcome === 'auto_approved') return 'approved at its deadline';
  return bar.actor ? `${bar.outcome} by ${bar.actor}` : bar.outcome;
}

/**
 * One bar of the Gantt with its marks: a cross on a failed attempt, the attempt number on a retry, who
 * decided after a gate wait.
 * @param {GanttBar} bar @param {number} index its place in start order @param {(t: number) => number} x
 * @param {number} y the row's top @param {number} openEnd where a bar still open ends
 * @param {number} right the picture's right edge, which no label may pass
 * @param {{ gate: string, queue: string }} ids the picture's hatch patterns
 */
export function ganttBar(bar, index, x, y, openEnd, right, ids) {
  const end = bar.end ?? openEnd;
  const left = x(bar.start);
  const width = Math.max(x(end) - left, 2);
  const top = y + (ROW_HEIGHT - BAR_HEIGHT) / 2;
  const fill =
    bar.kind === 'gate'
      ? `url(#${ids.gate})`
      : bar.kind === 'queue'
        ? `url(#${ids.queue})`
        : (FILL[bar.outcome] ?? '#6b7280');
  const marks = [];
  if (bar.kind === 'stage' && bar.outcome === 'failed') {
    const cx = left + width;
    marks.push(
      s('path', {
        class: 'gantt-fail-mark',
        d: `M${px(cx - 4)} ${px(top - 3)} l8 8 m0 -8 l-8 8`,
        stroke: '#7f1d1d',
        'stroke-width': 2,
      }),
    );
  }
  if (bar.kind === 'stage' && bar.attempt > 1 && width >= 22) {
    marks.push(
      s(
        'text',
        { x: px(left + 4), y: px(top + BAR_HEIGHT - 5), class: 'gantt-attempt', fill: '#ffffff' },
        `#${bar.attempt}`,
      ),
    );
  }
  if (bar.kind === 'gate') {
    // After the bar where it fits; else ending at the picture's right edge (a gate still waiting reaches it).
    const label = gateLabel(bar);
    const after = left + width + 4;
    const place =
      after + label.length * LABEL_CHAR_PX <= right
        ? { x: px(after) }
        : { x: px(right - 2), 'text-anchor': 'end' };
    marks.push(s('text', { ...place, y: px(top + BAR_HEIGHT - 5), class: 'gantt-gate-label' }, label));
  }
  return s(
    'g',
    { class: 'gantt-item' },
    s(
      'rect',
      {
        class: `gantt-bar gantt-${bar.kind}`,
        x: px(left),
        y: px(top),
        width: px(width),
        height: BAR_HEIGHT,
        rx: 3,
        fill,
        stroke: bar.kind === 'gate' ? '#b45309' : bar.kind === 'queue' ? '#6b7280' : 'none',
        'data-index': index,
        'data-kind': bar.kind,
        'data-row': bar.row,
        'data-name': bar.name,
        'data-attempt': bar.attempt,
        'data-outcome': bar.end === null ? (bar.kind === 'stage' ? 'running' : 'waiting') : bar.outcome,
        'data-actor': bar.actor,
        'data-start': new Date(bar.start).toISOString(),
        'data-end': bar.end === null ? null : new Date(bar.end).toISOString(),
      },
      s('title', {}, describe(bar, end)),
    ),
    marks,
  );
}
