// The job page's Gantt: one row per stage (and one for the queue), each stage attempt a bar on a time axis,
// failed attempts red with a cross, retries numbered, gate waits hatched with who decided. Redrawn from
// the events on every change, and every second while the job runs, so it grows live.
import { formatDuration, formatTime, h } from './dom.js';
import { ganttModel, QUEUE_ROW } from './ganttModel.js';
import { hatch, niceStep, px, s, uniqueId } from './svg.js';

/**
 * @typedef {import('./jobTimeline.js').JobEvent} JobEvent
 * @typedef {import('./ganttModel.js').GanttBar} GanttBar
 * @typedef {import('./ganttModel.js').GanttModel} GanttModel
 */

const LABEL_WIDTH = 120;
const RIGHT_PAD = 16;
const AXIS_HEIGHT = 24;
const ROW_HEIGHT = 30;
const BAR_HEIGHT = 18;
const FALLBACK_WIDTH = 720;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const TICK_STEPS = [
  SECOND,
  5 * SECOND,
  10 * SECOND,
  30 * SECOND,
  MINUTE,
  5 * MINUTE,
  10 * MINUTE,
  15 * MINUTE,
  30 * MINUTE,
  HOUR,
  2 * HOUR,
  6 * HOUR,
  12 * HOUR,
  24 * HOUR,
];

/** Stage outcome -> fill; texts on them stay dark or white for contrast. */
const FILL = /** @type {Record<string, string>} */ ({
  running: '#2563eb',
  completed: '#15803d',
  failed: '#b91c1c',
  canceled: '#6b7280',
});

/** "0", "30s", "10m", "1h 30m": the elapsed time at a tick. @param {number} ms */
function tickLabel(ms) {
  if (ms === 0) return '0';
  if (ms < MINUTE) return `${Math.round(ms / SECOND)}s`;
  if (ms < HOUR) return `${Math.round(ms / MINUTE)}m`;
  const hours = Math.floor(ms / HOUR);
  const minutes = Math.round((ms % HOUR) / MINUTE);
  return minutes === 0 ? `${hours}h` : `${hours}h ${minutes}m`;
}

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

/** The short label drawn after a gate bar: who decided. @param {GanttBar} bar */
function gateLabel(bar) {
  if (bar.end === null) return 'waiting';
  if (bar.outcome === 'auto_approved') return 'approved at its deadline';
  return bar.actor ? `${bar.outcome} by ${bar.actor}` : bar.outcome;
}

export class JobGantt {
  constructor() {
    /** @type {JobEvent[]} */
    this.events = [];
    /** @type {GanttModel | null} folded again only when drawn after new events */
    this.folded = null;
    this.ids = { gate: uniqueId('gantt-gate'), queue: uniqueId('gantt-queue') };
    this.canvas = h('div', { class: 'gantt-canvas' });
    this.summary = h('p', { class: 'muted small', id: 'gantt-summary' });
    this.element = h(
      'section',
      { class: 'panel gantt-panel', 'aria-labelledby': 'gantt-title' },
      h('h2', { id: 'gantt-title' }, 'Where the time went'),
      this.canvas,
      h(
        'ul',
        { class: 'legend', 'aria-label': 'Legend' },
        h('li', {}, h('span', { class: 'swatch swatch-completed' }), 'stage done'),
        h('li', {}, h('span', { class: 'swatch swatch-running' }), 'running'),
        h('li', {}, h('span', { class: 'swatch swatch-failed' }), 'failed (✕), retries numbered'),
        h('li', {}, h('span', { class: 'swatch swatch-gate' }), 'waiting at a gate'),
        h('li', {}, h('span', { class: 'swatch swatch-queue' }), 'waiting for a lane'),
      ),
      this.summary,
    );
    this.width = FALLBACK_WIDTH;
    // Drawn in CSS pixels: one unit of the picture is one pixel of the page, whatever the window.
    this.resize = new ResizeObserver(() => {
      const width = Math.floor(this.canvas.clientWidth);
      if (width > 0 && width !== this.width) {
        this.width = width;
        this.render();
      }
    });
    this.resize.observe(this.canvas);
  }

  /** @param {JobEvent} event */
  add(event) {
    this.events.push(event);
    this.folded = null;
  }

  /** @returns {GanttModel} */
  get model() {
    this.folded ??= ganttModel(this.events);
    return this.folded;
  }

  stop() {
    this.resize.disconnect();
  }

  /** @param {number} [now] the right edge while the job is open */
  render(now = Date.now()) {
    const { rows, bars, t0, t1, open } = this.model;
    if (t0 === null || t1 === null) {
      this.canvas.replaceChildren(h('p', { class: 'muted' }, 'Nothing has happened yet.'));
      return;
    }
    const start = t0;
    const end = Math.max(open ? Math.max(t1, now) : t1, start + SECOND);
    const width = Math.max(this.width, LABEL_WIDTH + RIGHT_PAD + 100);
    const x0 = LABEL_WIDTH;
    const x1 = width - RIGHT_PAD;
    const x = (/** @type {number} */ t) => x0 + ((t - start) / (end - start)) * (x1 - x0);
    const height = AXIS_HEIGHT + rows.length * ROW_HEIGHT + 4;
    const rowY = (/** @type {string} */ row) => AXIS_HEIGHT + rows.indexOf(row) * ROW_HEIGHT;

    const step = niceStep(end - start, TICK_STEPS, Math.max(2, Math.floor((x1 - x0) / 80)));
    const ticks = [];
    for (let t = 0; t <= end - start; t += step) ticks.push(t);

    const drawn = [...bars].sort((a, b) => a.start - b.start);
    const svg = s(
      'svg',
      {
        id: 'gantt',
        class: 'gantt',
        width,
        height,
        viewBox: `0 0 ${width} ${height}`,
        role: 'img',
        'aria-labelledby': 'gantt-title gantt-summary',
        'data-t0': new Date(start).toISOString(),
        'data-t1': new Date(end).toISOString(),
        'data-x0': x0,
        'data-x1': x1,
      },
      s('defs', {}, hatch(this.ids.gate, '#b45309', '#fde68a'), hatch(this.ids.queue, '#9ca3af', '#f3f4f6')),
      rows.map((row, i) =>
        s(
          'g',
          { class: 'gantt-row', 'data-row': row },
          i % 2 === 0 ? s('rect', { x: 0, y: rowY(row), width, height: ROW_HEIGHT, fill: '#f8fafc' }) : null,
          s(
            'text',
            { x: 6, y: rowY(row) + ROW_HEIGHT / 2 + 5, class: 'gantt-label' },
            row === QUEUE_ROW ? 'queue' : row,
          ),
        ),
      ),
      ticks.map((t) =>
        s(
          'g',
          { class: 'gantt-tick' },
          s('line', {
            x1: px(x(start + t)),
            x2: px(x(start + t)),
            y1: AXIS_HEIGHT - 4,
            y2: height,
            stroke: '#d0d5dd',
          }),
          s(
            'text',
            {
              x: px(x(start + t)),
              y: AXIS_HEIGHT - 8,
              'text-anchor': t === 0 ? 'start' : 'middle',
              class: 'gantt-axis',
            },
            tickLabel(t),
          ),
        ),
      ),
      drawn.map((bar, index) =>
        this.bar(bar, index, x, rowY(bar.row), open ? end : /** @type {number} */ (t1)),
      ),
      open
        ? s('line', {
            class: 'gantt-now',
            x1: px(x(end)),
            x2: px(x(end)),
            y1: AXIS_HEIGHT - 4,
            y2: height,
            stroke: '#1d4ed8',
            'stroke-dasharray': '3 3',
          })
        : null,
    );
    this.canvas.replaceChildren(svg);
    const attempts = bars.filter((b) => b.kind === 'stage');
    const failures = attempts.filter((b) => b.outcome === 'failed').length;
    const gates = bars.filter((b) => b.kind === 'gate');
    const gateTime = gates.reduce((sum, b) => sum + ((b.end ?? end) - b.start), 0);
    this.summary.textContent =
      `${formatDuration(end - start)} in all${open ? ' so far' : ''}: ${attempts.length} stage ` +
      `${attempts.length === 1 ? 'attempt' : 'attempts'}, ${failures} failed, ` +
      `${formatDuration(gateTime)} waiting at ${gates.length === 1 ? 'a gate' : `${gates.length} gates`}.`;
  }

  /**
   * @param {GanttBar} bar @param {number} index its place in start order @param {(t: number) => number} x
   * @param {number} y the row's top @param {number} openEnd where a bar still open ends
   */
  bar(bar, index, x, y, openEnd) {
    const end = bar.end ?? openEnd;
    const left = x(bar.start);
    const width = Math.max(x(end) - left, 2);
    const top = y + (ROW_HEIGHT - BAR_HEIGHT) / 2;
    const fill =
      bar.kind === 'gate'
        ? `url(#${this.ids.gate})`
        : bar.kind === 'queue'
          ? `url(#${this.ids.queue})`
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
      marks.push(
        s(
          'text',
          { x: px(left + width + 4), y: px(top + BAR_HEIGHT - 5), class: 'gantt-gate-label' },
          gateLabel(bar),
        ),
      );
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
}
