// The job page's Gantt: one row per stage (and one for the queue), each stage attempt a bar on a time axis,
// failed attempts red with a cross, retries numbered, gate waits hatched with who decided. Redrawn from
// the events (its rows from the server's state of the job) on every change, and every second while the job
// runs, so it grows live.
import { formatDuration, h } from './dom.js';
import { ganttBar, ROW_HEIGHT } from './ganttBar.js';
import { ganttModel, QUEUE_ROW } from './ganttModel.js';
import { hatch, niceStep, px, s, uniqueId } from './svg.js';

/**
 * @typedef {import('./jobTimeline.js').JobEvent} JobEvent
 * @typedef {import('./jobTimeline.js').JobState} JobState
 * @typedef {import('./ganttModel.js').GanttBar} GanttBar
 * @typedef {import('./ganttModel.js').GanttModel} GanttModel
 */

const LABEL_WIDTH = 120;
const RIGHT_PAD = 16;
const AXIS_HEIGHT = 24;
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

/** "0", "30s", "1m 30s", "10m", "1h 30m": the elapsed time at a tick, every unit it has. @param {number} ms */
export function tickLabel(ms) {
  const total = Math.round(ms / SECOND);
  if (total === 0) return '0';
  const parts = [
    [Math.floor(total / 3600), 'h'],
    [Math.floor((total % 3600) / 60), 'm'],
    [total % 60, 's'],
  ];
  return parts
    .filter(([n]) => n !== 0)
    .map(([n, unit]) => `${n}${unit}`)
    .join(' ');
}

export class JobGantt {
  constructor() {
    /** @type {JobEvent[]} */
    this.events = [];
    /** @type {JobState | null} */
    this.state = null;
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

  /** The server's state of the job: its stages are the rows. @param {JobState} state */
  setState(state) {
    this.state = state;
    this.folded = null;
  }

  /** @returns {GanttModel} */
  get model() {
    this.folded ??= ganttModel(this.events, this.state);
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
        ganttBar(bar, index, x, rowY(bar.row), open ? end : /** @type {number} */ (t1), width, this.ids),
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
}
