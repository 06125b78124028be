// A job page: header, actions, the gate decision, the stage timeline, the stage log and the event list. The
// job's events come from one live feed; its stages and gates are the server's folded state, asked for again
// whenever an event arrives.
import { ApiError, api, authProbe, jobPath, post, streamUrl } from './api.js';
import { TERMINAL_STATUSES } from './catalogue.js';
import {
  formatDuration,
  h,
  perFrame,
  refreshTimes,
  relativeTime,
  replaceChildren,
  statusBadge,
} from './dom.js';
import { EventFilter } from './eventFilter.js';
import { eventRow } from './eventRow.js';
import { JobActions, VIEWER_NOTE } from './jobActions.js';
import { JobGantt } from './jobGantt.js';
import { JobStateSource } from './jobStateSource.js';
import { liveStage, stageViews } from './jobTimeline.js';
import { LiveFeed } from './liveFeed.js';
import { stageItem } from './stageItem.js';
import { StageLogView } from './stageLog.js';

/**
 * @typedef {import('./app.js').ViewContext} ViewContext
 * @typedef {import('./jobTimeline.js').JobEvent} JobEvent
 * @typedef {import('./jobTimeline.js').JobState} JobState
 */

/** @param {HTMLElement} root @param {string} jobId @param {ViewContext} context @returns {() => void} */
export function mountJobView(root, jobId, context) {
  /** @type {JobState | null} the server's state of the job, once it has answered */
  let job = null;
  /** @type {string | null} the status of the last event heard (the envelope's, set by the server) */
  let lastStatus = null;
  /** @type {Record<string, unknown> | null} */
  let summary = null;
  /** @type {string | null} the stage whose log the user picked; null follows the live stage */
  let pickedStage = null;

  const headline = h('div', { class: 'job-meta', id: 'job-meta' });

  /** Runs a command and shows its events at once (the stream will bring the same ones: they are dropped). @param {string} path @param {unknown} [body] */
  const command = async (path, body) => {
    const answer = await post(`${jobPath(jobId)}${path}`, body);
    summary = answer.job;
    feed.push(answer.events);
  };
  const actions = new JobActions({
    canOperate: context.canOperate,
    command,
    pausedGate: () => job?.paused_gate ?? null,
    after: () => render(),
  });
  const states = new JobStateSource(jobId, (state) => {
    job = state;
    gantt.setState(state);
    scheduleRender();
  });

  const gantt = new JobGantt();
  const timeline = h('ol', { id: 'timeline', class: 'timeline' });
  const logPicker = h('select', { id: 'log-stage' });
  logPicker.addEventListener('change', () => {
    pickedStage = logPicker.value || null;
    render();
  });
  const log = new StageLogView();
  const eventsBody = h('tbody', { id: 'events-body' });
  const eventFilter = new EventFilter(jobId, eventsBody);
  const eventsBox = h(
    'div',
    { class: 'events-box', tabindex: '0', 'aria-label': 'Events' },
    h(
      'table',
      { class: 'events-table' },
      h('caption', { class: 'visually-hidden' }, 'Events of this job, oldest first'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['Time', 'Type', 'Stage', 'Message', 'Actor'].map((c) => h('th', { scope: 'col' }, c)),
        ),
      ),
      eventsBody,
    ),
  );

  function render() {
    const now = Date.now();
    const status = job?.status ?? String(summary?.status ?? 'queued');
    const lane = summary?.lane;
    const queued = summary?.queue_position;
    headline.setAttribute('data-status', status);
    headline.setAttribute('data-seq', String(job?.seq ?? -1));
    headline.setAttribute('data-current-stage', job?.current_stage ?? '');
    replaceChildren(
      headline,
      statusBadge(status),
      h('span', {}, `pipeline ${job?.pipeline?.name ?? summary?.pipeline ?? '—'}`),
      job?.current_stage ? h('span', {}, `stage ${job.current_stage}`) : null,
      typeof lane === 'number' ? h('span', { id: 'job-lane' }, `lane ${lane}`) : null,
      typeof queued === 'number' ? h('span', { id: 'job-queue' }, `#${queued} in queue`) : null,
      h('span', {}, 'updated ', relativeTime(job?.updated_at ?? null)),
      job?.reason ? h('span', { class: 'job-reason' }, `reason: ${job.reason}`) : null,
    );
    actions.update(status, TERMINAL_STATUSES.includes(status), job?.paused_gate ?? null);
    const stages = job ? stageViews(job) : [];
    replaceChildren(
      timeline,
      stages.map((s) => stageItem(s, now)),
    );
    gantt.render(now);
    const shown = pickedStage ?? (job ? liveStage(job) : null);
    if (logPicker.options.length !== stages.length + 1) {
      replaceChildren(
        logPicker,
        h('option', { value: '' }, 'the current stage'),
        stages.map((s) => h('option', { value: s.name }, s.name)),
      );
      logPicker.value = pickedStage ?? '';
    }
    const stage = stages.find((s) => s.name === shown);
    log.show(jobId, shown, stage?.status === 'running', stage?.runs ?? true);
  }

  /**
   * Rows of events heard and not yet in the table: they go in once per frame, with one look at the scroll
   * position (reading it after every row laid the whole table out again: a long job's page took seconds).
   * @type {[JobEvent, HTMLElement][]}
   */
  let pendingRows = [];
  const rowWriter = perFrame(() => {
    const rows = pendingRows;
    pendingRows = [];
    if (rows.length === 0) return;
    const atBottom = eventsBox.scrollTop + eventsBox.clientHeight >= eventsBox.scrollHeight - 8;
    eventsBody.append(...rows.map(([, row]) => row));
    eventFilter.trackAll(rows);
    if (atBottom) eventsBox.scrollTop = eventsBox.scrollHeight;
  });

  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let renderTimer;
  const scheduleRender = () => {
    renderTimer ??= setTimeout(() => {
      renderTimer = undefined;
      render();
    }, 0);
  };

  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let summaryTimer;
  const refreshSummary = () => {
    summaryTimer ??= setTimeout(async () => {
      summaryTimer = undefined;
      summary = await api(jobPath(jobId)).catch(() => summary);
      scheduleRender();
    }, 300);
  };

  const feed = new LiveFeed({
    cursor: '-1',
    streamUrl: (cursor) => streamUrl(`${jobPath(jobId)}/events/stream`, { after: cursor ?? '-1' }),
    cursorOf: (event) => String(event.seq),
    isAfter: (a, b) => Number(a) > Number(b ?? -1),
    isNext: (event, cursor) => event.seq === Number(cursor ?? -1) + 1,
    isFinished: () => TERMINAL_STATUSES.includes(lastStatus ?? job?.status ?? ''),
    onEvent: (event) => {
      const e = /** @type {JobEvent} */ (/** @type {unknown} */ (event));
      lastStatus = e.status;
      states.want(e.seq);
      gantt.add(e);
      pendingRows.push([e, eventRow(e)]);
      rowWriter.schedule();
      scheduleRender();
      refreshSummary();
    },
    onState: context.setConnection,
    onFailure: authProbe(),
    poll: async (cursor, signal) => {
      const page = await api(`${jobPath(jobId)}/events?after=${cursor ?? -1}&wait=25&limit=1000`, { signal });
      return page.events;
    },
  });

  replaceChildren(
    root,
    h(
      'div',
      { class: 'view-head' },
      h('a', { href: '#/', class: 'back' }, '← All jobs'),
      h('h1', {}, 'Job ', h('code', { id: 'job-id' }, jobId)),
    ),
    headline,
    actions.error,
    actions.element,
    context.canOperate ? null : h('p', { class: 'muted small', id: 'viewer-note' }, VIEWER_NOTE),
    actions.gatePanel,
    gantt.element,
    h(
      'div',
      { class: 'job-layout' },
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'timeline-title' },
        h('h2', { id: 'timeline-title' }, 'Stages'),
        timeline,
      ),
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'log-title' },
        h('h2', { id: 'log-title' }, 'Stage log'),
        h('div', { class: 'filter' }, h('label', { for: 'log-stage' }, 'Show the log of'), logPicker),
        log.element,
      ),
      h(
        'section',
        { class: 'panel events-panel', 'aria-labelledby': 'events-title' },
        h('h2', { id: 'events-title' }, 'Events'),
        eventFilter.element,
        eventsBox,
      ),
    ),
  );

  let started = false;
  api(jobPath(jobId))
    .then((found) => {
      summary = found;
      states.want(typeof found.seq === 'number' ? found.seq : 0);
      render();
      feed.start();
      started = true;
    })
    .catch((e) => {
      actions.showError(
        e instanceof ApiError && e.status === 404 ? `No job ${jobId}.` : String(e.message ?? e),
      );
      context.setConnection('offline');
    });

  const ticker = setInterval(() => {
    const now = Date.now();
    refreshTimes(headline);
    // A running job's open bars reach to now.
    if (gantt.model.open && gantt.model.t0 !== null) gantt.render(now);
    for (const el of timeline.querySelectorAll('[data-running-since]')) {
      el.textContent = `running for ${formatDuration(now - Date.parse(el.getAttribute('data-running-since') ?? ''))}`;
    }
  }, 1000);

  return () => {
    if (started) feed.stop();
    states.stop();
    actions.stop();
    log.stop();
    gantt.stop();
    eventFilter.stop();
    rowWriter.cancel();
    clearInterval(ticker);
    clearTimeout(renderTimer);
    clearTimeout(summaryTimer);
    root.replaceChildren();
  };
}
