// A job page: header, actions, the gate decision, the stage timeline, the stage log and the event list, all
// kept current by one live feed of the job's events.
import { ApiError, api, jobPath, post, streamUrl } from './api.js';
import { formatDuration, h, refreshTimes, relativeTime, replaceChildren, statusBadge } from './dom.js';
import { EventFilter } from './eventFilter.js';
import { eventRow } from './eventRow.js';
import { JobGantt } from './jobGantt.js';
import { applyEvent, emptyJob, liveStage } from './jobTimeline.js';
import { LiveFeed } from './liveFeed.js';
import { stageItem } from './stageItem.js';
import { StageLogView } from './stageLog.js';

/**
 * @typedef {import('./app.js').ViewContext} ViewContext
 * @typedef {import('./jobTimeline.js').JobEvent} JobEvent
 * @typedef {import('./jobTimeline.js').StageView} StageView
 * @typedef {import('./jobTimeline.js').JobView} JobView
 */

const TERMINAL = ['completed', 'failed', 'canceled'];
const VIEWER_NOTE = 'Your role (viewer) can watch this job but not change it.';

/** @param {HTMLElement} root @param {string} jobId @param {ViewContext} context @returns {() => void} */
export function mountJobView(root, jobId, context) {
  /** @type {JobView} */
  let job = emptyJob();
  /** @type {Record<string, unknown> | null} */
  let summary = null;
  /** @type {string | null} the stage whose log the user picked; null follows the live stage */
  let pickedStage = null;

  const headline = h('div', { class: 'job-meta', id: 'job-meta' });
  const error = h('p', { id: 'job-error', class: 'message message-error', role: 'alert', hidden: true });
  const disabledNote = context.canOperate ? null : h('p', { class: 'muted small' }, VIEWER_NOTE);

  /** @param {string} label @param {string} id @param {() => Promise<void>} action @param {string} [extraClass] */
  const button = (label, id, action, extraClass = '') =>
    h(
      'button',
      {
        type: 'button',
        id,
        class: extraClass,
        disabled: !context.canOperate,
        title: context.canOperate ? null : VIEWER_NOTE,
        onclick: async (/** @type {MouseEvent} */ event) => {
          const target = /** @type {HTMLButtonElement} */ (event.currentTarget);
          target.disabled = true;
          try {
            await action();
            error.hidden = true;
          } catch (e) {
            error.textContent = e instanceof ApiError ? e.message : String(e);
            error.hidden = false;
          } finally {
            target.disabled = !context.canOperate;
            render();
          }
        },
      },
      label,
    );

  /** Runs a command and shows its events at once (the stream will bring the same ones: they are dropped). @param {string} path @param {unknown} [body] */
  const command = async (path, body) => {
    const answer = await post(`${jobPath(jobId)}${path}`, body);
    summary = answer.job;
    feed.push(answer.events);
  };

  let cancelArmed = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let disarm;
  const startButton = button('Start now', 'job-start', () => command('/start'));
  const cancelButton = button(
    'Cancel job',
    'job-cancel',
    async () => {
      if (!cancelArmed) {
        cancelArmed = true;
        cancelButton.textContent = 'Confirm cancel';
        disarm = setTimeout(() => {
          cancelArmed = false;
          cancelButton.textContent = 'Cancel job';
        }, 5000);
        return;
      }
      clearTimeout(disarm);
      cancelArmed = false;
      cancelButton.textContent = 'Cancel job';
      await command('/cancel', {});
    },
    'danger',
  );
  const resumeButton = button('Resume', 'job-resume', () => command('/resume', {}));
  const actions = h('div', { class: 'actions' }, startButton, cancelButton, resumeButton);

  const comment = /** @type {HTMLTextAreaElement} */ (
    h('textarea', { id: 'gate-comment', rows: 3, disabled: !context.canOperate, maxlength: 4000 })
  );
  const decide = (/** @type {'approve' | 'reject'} */ decision) => async () => {
    const gate = job.paused_gate;
    if (!gate) return;
    const text = comment.value.trim();
    await command(`/gates/${encodeURIComponent(gate)}/${decision}`, text ? { comment: text } : {});
    comment.value = '';
  };
  const gateTitle = h('h2', { id: 'gate-title' });
  const gatePanel = h(
    'section',
    { id: 'gate-panel', class: 'panel gate-panel', 'aria-labelledby': 'gate-title', hidden: true },
    gateTitle,
    h('label', { for: 'gate-comment' }, 'Comment (optional, stored with the decision)'),
    comment,
    h(
      'div',
      { class: 'actions' },
      button('Approve', 'gate-approve', decide('approve'), 'primary'),
      button('Reject', 'gate-reject', decide('reject'), 'danger'),
    ),
    disabledNote,
  );

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
    const status = job.seq >= 0 ? job.status : String(summary?.status ?? 'queued');
    const lane = summary?.lane;
    const queued = summary?.queue_position;
    replaceChildren(
      headline,
      statusBadge(status),
      h('span', {}, `pipeline ${job.pipeline ?? summary?.pipeline ?? '—'}`),
      job.current_stage ? h('span', {}, `stage ${job.current_stage}`) : null,
      typeof lane === 'number' ? h('span', { id: 'job-lane' }, `lane ${lane}`) : null,
      typeof queued === 'number' ? h('span', { id: 'job-queue' }, `#${queued} in queue`) : null,
      h('span', {}, 'updated ', relativeTime(job.updated_at)),
      job.reason ? h('span', { class: 'job-reason' }, `reason: ${job.reason}`) : null,
    );
    startButton.hidden = status !== 'queued';
    cancelButton.hidden = TERMINAL.includes(status);
    resumeButton.hidden = status !== 'failed';
    actions.hidden = startButton.hidden && cancelButton.hidden && resumeButton.hidden;
    gatePanel.hidden = !(status === 'paused' && job.paused_gate);
    gateTitle.textContent = job.paused_gate ? `Waiting at gate ${job.paused_gate}` : '';
    replaceChildren(
      timeline,
      job.stages.map((s) => stageItem(s, now)),
    );
    gantt.render(now);
    const shown = pickedStage ?? liveStage(job);
    if (logPicker.options.length !== job.stages.length + 1) {
      replaceChildren(
        logPicker,
        h('option', { value: '' }, 'the current stage'),
        job.stages.map((s) => h('option', { value: s.name }, s.name)),
      );
      logPicker.value = pickedStage ?? '';
    }
    const stage = job.stages.find((s) => s.name === shown);
    log.show(jobId, shown, stage?.status === 'running', stage?.runs ?? true);
  }

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

  let lastAuthCheck = 0;
  const feed = new LiveFeed({
    cursor: '-1',
    streamUrl: (cursor) => streamUrl(`${jobPath(jobId)}/events/stream`, { after: cursor ?? '-1' }),
    cursorOf: (event) => String(event.seq),
    isAfter: (a, b) => Number(a) > Number(b ?? -1),
    isNext: (event, cursor) => event.seq === Number(cursor ?? -1) + 1,
    isFinished: () => ['completed', 'failed', 'canceled'].includes(job.status),
    onEvent: (event) => {
      const e = /** @type {JobEvent} */ (/** @type {unknown} */ (event));
      const atBottom = eventsBox.scrollTop + eventsBox.clientHeight >= eventsBox.scrollHeight - 8;
      job = applyEvent(job, e);
      gantt.add(e);
      const row = eventRow(e);
      eventFilter.track(e, row);
      eventsBody.append(row);
      if (atBottom) eventsBox.scrollTop = eventsBox.scrollHeight;
      scheduleRender();
      refreshSummary();
    },
    onState: context.setConnection,
    onFailure: () => {
      if (Date.now() - lastAuthCheck < 5000) return;
      lastAuthCheck = Date.now();
      api('/me').catch(() => {});
    },
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
    error,
    actions,
    context.canOperate ? null : h('p', { class: 'muted small', id: 'viewer-note' }, VIEWER_NOTE),
    gatePanel,
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
    .then((job) => {
      summary = job;
      render();
      feed.start();
      started = true;
    })
    .catch((e) => {
      error.textContent =
        e instanceof ApiError && e.status === 404 ? `No job ${jobId}.` : String(e.message ?? e);
      error.hidden = false;
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
    log.stop();
    gantt.stop();
    eventFilter.stop();
    clearInterval(ticker);
    clearTimeout(renderTimer);
    clearTimeout(summaryTimer);
    clearTimeout(disarm);
    root.replaceChildren();
  };
}
