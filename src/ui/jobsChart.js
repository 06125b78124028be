// The jobs list's picture: jobs finished and failed per hour over the last 24 hours (stacked bars, failures
// hatched), and the queue length beside it. Both follow the all-jobs event feed: a finish adds to its hour,
// a job queued, started or canceled recounts the queue.
import { api } from './api.js';
import { h } from './dom.js';
import { hatch, px, s, uniqueId } from './svg.js';

const HOURS = 24;
const HOUR = 3_600_000;
const FINISHED = ['job_completed', 'job_failed'];
/** Events that move a job into or out of the queue. */
const QUEUE_MOVES = ['job_created', 'job_started', 'job_canceled', 'job_resumed'];
/** Pages of the search API read at most for one day of finishes (1000 events a page). */
const MAX_PAGES = 50;
const QUEUE_PAGES = 10;
const PAGE = 1000;
const HEIGHT = 170;
const AXIS_BOTTOM = 22;
const AXIS_LEFT = 30;
const TOP_PAD = 10;
const FALLBACK_WIDTH = 640;

/** @typedef {{ id: string, ts: string, type: string }} FinishEvent */

/** The start of the hour `t` falls in (local hours: the labels are local). @param {number} t */
function hourStart(t) {
  const d = new Date(t);
  d.setMinutes(0, 0, 0);
  return d.getTime();
}

/**
 * The last `HOURS` hours, oldest first, each with its completed and failed counts.
 * @param {Iterable<FinishEvent>} events @param {number} now
 */
export function hourlyBuckets(events, now) {
  const last = hourStart(now);
  const buckets = Array.from({ length: HOURS }, (_, i) => ({
    start: last - (HOURS - 1 - i) * HOUR,
    completed: 0,
    failed: 0,
  }));
  const first = /** @type {{ start: number }} */ (buckets[0]).start;
  for (const event of events) {
    const t = Date.parse(event.ts);
    if (!(t >= first && t < last + HOUR)) continue;
    const bucket = buckets[Math.floor((t - first) / HOUR)];
    if (!bucket) continue;
    if (event.type === 'job_completed') bucket.completed++;
    else bucket.failed++;
  }
  return buckets;
}

export function jobsChart() {
  /** @type {Map<string, FinishEvent>} by event id: the search and the feed may bring the same one */
  const finishes = new Map();
  /** @type {number | null} */
  let queued = null;
  let queueCapped = false;
  let width = FALLBACK_WIDTH;
  const ids = { failed: uniqueId('chart-failed') };
  const canvas = h('div', { class: 'chart-canvas' });
  const summary = h('p', { class: 'muted small', id: 'chart-summary' });
  const queueValue = h('span', { class: 'figure-value', id: 'queue-length' }, '—');
  const error = h('p', { class: 'message message-error', role: 'alert', hidden: true });
  const element = h(
    'section',
    { class: 'charts-panel', 'aria-labelledby': 'charts-title' },
    h('h2', { id: 'charts-title' }, 'Last 24 hours'),
    error,
    h(
      'div',
      { class: 'charts' },
      h(
        'figure',
        { class: 'figure' },
        canvas,
        h(
          'ul',
          { class: 'legend', 'aria-label': 'Legend' },
          h('li', {}, h('span', { class: 'swatch swatch-completed' }), 'completed'),
          h('li', {}, h('span', { class: 'swatch swatch-failed-hatched' }), 'failed (hatched)'),
        ),
        summary,
      ),
      h(
        'figure',
        { class: 'figure', 'aria-labelledby': 'queue-caption' },
        h('figcaption', { id: 'queue-caption', class: 'muted small' }, 'Jobs waiting for a lane'),
        queueValue,
      ),
    ),
  );

  function render() {
    const now = Date.now();
    const buckets = hourlyBuckets(finishes.values(), now);
    const most = Math.max(1, ...buckets.map((b) => b.completed + b.failed));
    const top = most <= 4 ? most : Math.ceil(most / 4) * 4;
    const plotWidth = width - AXIS_LEFT - 4;
    const slot = plotWidth / HOURS;
    const plotHeight = HEIGHT - AXIS_BOTTOM - TOP_PAD;
    const y = (/** @type {number} */ n) => TOP_PAD + plotHeight - (n / top) * plotHeight;
    const completed = buckets.reduce((sum, b) => sum + b.completed, 0);
    const failed = buckets.reduce((sum, b) => sum + b.failed, 0);
    const gridValues = top <= 4 ? [...Array(top + 1).keys()] : [0, top / 4, top / 2, (3 * top) / 4, top];
    summary.textContent = `${completed} completed and ${failed} failed in the last 24 hours; the most in one hour: ${most === 1 && completed + failed === 0 ? 0 : most}.`;
    canvas.replaceChildren(
      s(
        'svg',
        {
          id: 'jobs-chart',
          class: 'chart',
          width,
          height: HEIGHT,
          viewBox: `0 0 ${width} ${HEIGHT}`,
          role: 'img',
          'aria-labelledby': 'charts-title chart-summary',
          'data-top': top,
        },
        s('defs', {}, hatch(ids.failed, '#7f1d1d', '#b91c1c')),
        gridValues.map((v) =>
          s(
            'g',
            {},
            s('line', { x1: AXIS_LEFT, x2: width - 4, y1: px(y(v)), y2: px(y(v)), stroke: '#e5e7eb' }),
            s(
              'text',
              { x: AXIS_LEFT - 6, y: px(y(v) + 4), 'text-anchor': 'end', class: 'chart-axis' },
              String(v),
            ),
          ),
        ),
        buckets.map((b, i) => {
          const left = AXIS_LEFT + i * slot + 2;
          const barWidth = Math.max(slot - 4, 1);
          const hour = new Date(b.start);
          const label = `${String(hour.getHours()).padStart(2, '0')}:00`;
          return s(
            'g',
            {
              class: 'chart-hour',
              'data-hour': hour.toISOString(),
              'data-completed': b.completed,
              'data-failed': b.failed,
            },
            s('title', {}, `${label}: ${b.completed} completed, ${b.failed} failed`),
            b.completed > 0
              ? s('rect', {
                  class: 'chart-completed',
                  x: px(left),
                  y: px(y(b.completed)),
                  width: px(barWidth),
                  height: px(y(0) - y(b.completed)),
                  fill: '#15803d',
                })
              : null,
            b.failed > 0
              ? s('rect', {
                  class: 'chart-failed',
                  x: px(left),
                  y: px(y(b.completed + b.failed)),
                  width: px(barWidth),
                  height: px(y(b.completed) - y(b.completed + b.failed)),
                  fill: `url(#${ids.failed})`,
                })
              : null,
            i % 3 === 2 || i === HOURS - 1
              ? s(
                  'text',
                  { x: px(left + barWidth / 2), y: HEIGHT - 6, 'text-anchor': 'middle', class: 'chart-axis' },
                  i === HOURS - 1 ? 'now' : label,
                )
              : null,
          );
        }),
      ),
    );
    queueValue.textContent = queued === null ? '—' : `${queued}${queueCapped ? '+' : ''}`;
    queueValue.dataset.queued = queued === null ? '' : String(queued);
  }

  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let renderTimer;
  const scheduleRender = () => {
    renderTimer ??= setTimeout(() => {
      renderTimer = undefined;
      render();
    }, 50);
  };

  /** @param {unknown} e */
  const showError = (e) => {
    error.textContent = `The chart could not be read: ${e instanceof Error ? e.message : e}`;
    error.hidden = false;
  };

  async function loadFinishes() {
    const from = new Date(hourStart(Date.now()) - (HOURS - 1) * HOUR).toISOString();
    /** @type {string | null} */
    let cursor = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const query = new URLSearchParams({ type: FINISHED.join(','), from, limit: String(PAGE) });
      if (cursor) query.set('cursor', cursor);
      const answer = await api(`/events/search?${query}`);
      for (const event of answer.events) finishes.set(event.id, event);
      cursor = answer.next_cursor;
      if (cursor === null) break;
    }
  }

  /** Counts started: a count that ends after a later one started is dropped (it read an older read model). */
  let countsStarted = 0;
  async function countQueue() {
    const mine = ++countsStarted;
    let count = 0;
    /** @type {string | null} */
    let cursor = null;
    for (let page = 0; page < QUEUE_PAGES; page++) {
      const query = new URLSearchParams({ status: 'queued', limit: String(PAGE) });
      if (cursor) query.set('cursor', cursor);
      const answer = await api(`/jobs?${query}`);
      count += answer.jobs.length;
      cursor = answer.next_cursor;
      if (cursor === null) break;
    }
    if (mine !== countsStarted) return;
    queued = count;
    queueCapped = cursor !== null;
  }

  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let queueTimer;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let settleTimer;
  const recountQueue = () => countQueue().then(scheduleRender).catch(showError);
  // The read model trails the feed by a moment: recount a little later, coalescing a burst; and once more
  // two seconds after the last move, for a busy server whose read model was not there yet at the first.
  const scheduleQueueCount = () => {
    queueTimer ??= setTimeout(() => {
      queueTimer = undefined;
      void recountQueue();
    }, 300);
    clearTimeout(settleTimer);
    settleTimer = setTimeout(() => void recountQueue(), 2000);
  };

  const resize = new ResizeObserver(() => {
    const measured = Math.floor(canvas.clientWidth);
    if (measured > 0 && measured !== width) {
      width = measured;
      render();
    }
  });
  resize.observe(canvas);
  // The window slides: the oldest hour leaves on the hour.
  const ticker = setInterval(render, 60_000);

  return {
    element,
    /** Reads the day's finishes and the queue again (on start, and once the feed is connected). */
    reload() {
      Promise.all([loadFinishes(), countQueue()])
        .then(() => {
          error.hidden = true;
          render();
        })
        .catch(showError);
    },
    /** @param {{ id?: unknown, ts?: unknown, type: string }} event */
    onEvent(event) {
      if (FINISHED.includes(event.type) && typeof event.id === 'string' && typeof event.ts === 'string') {
        finishes.set(event.id, { id: event.id, ts: event.ts, type: event.type });
        scheduleRender();
      }
      if (QUEUE_MOVES.includes(event.type)) scheduleQueueCount();
    },
    stop() {
      resize.disconnect();
      clearInterval(ticker);
      clearTimeout(renderTimer);
      clearTimeout(queueTimer);
      clearTimeout(settleTimer);
    },
  };
}
