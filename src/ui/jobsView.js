// The jobs list: a page of jobs kept current from the all-jobs event stream, a status filter and the
// new-job form.
import { ApiError, api, authProbe, jobPath, streamUrl } from './api.js';
import { JOB_STATUSES } from './catalogue.js';
import { h, refreshTimes, relativeTime, replaceChildren, statusBadge } from './dom.js';
import { jobsChart } from './jobsChart.js';
import { LiveFeed, sleep } from './liveFeed.js';
import { newJobForm } from './newJobForm.js';
import { opsStrip } from './opsStrip.js';

const PAGE_SIZE = 50;

/**
 * @typedef {import('./app.js').ViewContext} ViewContext
 * @typedef {{ job_id: string, pipeline: string | null, status: string, current_stage: string | null,
 *   paused_gate: string | null, created_at: string | null, updated_at: string | null,
 *   stages_total?: number, stages_completed?: number, lane?: number | null, queue_position?: number | null }} Job
 */

/** "lane 2", "3rd in queue" or a dash. @param {Job} job */
function queueText(job) {
  if (typeof job.lane === 'number') return `lane ${job.lane}`;
  if (typeof job.queue_position === 'number') return `#${job.queue_position} in queue`;
  return '—';
}

/** @param {Job} job */
function stageText(job) {
  const progress =
    typeof job.stages_total === 'number' ? ` (${job.stages_completed ?? 0}/${job.stages_total} done)` : '';
  if (job.paused_gate) return `gate ${job.paused_gate}${progress}`;
  return `${job.current_stage ?? '—'}${progress}`;
}

/** @param {Job} job */
function jobRow(job) {
  return h(
    'tr',
    { 'data-job-id': job.job_id, 'data-status': job.status, 'data-created': job.created_at ?? '' },
    h('td', { 'data-label': 'Job' }, h('a', { href: `#/jobs/${job.job_id}` }, job.job_id)),
    h('td', { 'data-label': 'Pipeline' }, job.pipeline ?? '—'),
    h('td', { 'data-label': 'Status', class: 'cell-status' }, statusBadge(job.status)),
    h('td', { 'data-label': 'Stage', class: 'cell-stage' }, stageText(job)),
    h('td', { 'data-label': 'Lane / queue', class: 'cell-queue' }, queueText(job)),
    h('td', { 'data-label': 'Updated', class: 'cell-updated' }, relativeTime(job.updated_at)),
  );
}

/** @param {HTMLElement} root @param {ViewContext} context @returns {() => void} */
export function mountJobsView(root, context) {
  const filter = h(
    'select',
    { id: 'status-filter', name: 'status' },
    h('option', { value: '' }, 'all'),
    JOB_STATUSES.map((s) => h('option', { value: s }, s)),
  );
  const tbody = h('tbody', { id: 'jobs-body' });
  const empty = h('p', { id: 'jobs-empty', class: 'muted', hidden: true }, 'No jobs here yet.');
  const listError = h('p', { class: 'message message-error', role: 'alert', hidden: true });
  const more = h('button', { type: 'button', class: 'button-quiet', hidden: true }, 'Load more');
  /** @type {string | null} */
  let nextCursor = null;
  let generation = 0;

  const showListError = (/** @type {unknown} */ error) => {
    listError.textContent = error instanceof Error ? error.message : String(error);
    listError.hidden = false;
  };
  const updateEmpty = () => {
    empty.hidden = tbody.children.length > 0;
  };

  /** @param {AbortSignal} [signal] */
  async function loadList(signal) {
    const mine = ++generation;
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (filter.value) query.set('status', filter.value);
    const page = await api(`/jobs?${query}`, { signal });
    if (mine !== generation) return;
    listError.hidden = true;
    replaceChildren(tbody, page.jobs.map(jobRow));
    nextCursor = page.next_cursor;
    more.hidden = nextCursor === null;
    updateEmpty();
  }

  async function loadMore() {
    if (!nextCursor) return;
    const query = new URLSearchParams({ limit: String(PAGE_SIZE), cursor: nextCursor });
    if (filter.value) query.set('status', filter.value);
    try {
      const page = await api(`/jobs?${query}`);
      for (const job of page.jobs) if (!rowOf(job.job_id)) tbody.append(jobRow(job));
      nextCursor = page.next_cursor;
      more.hidden = nextCursor === null;
    } catch (error) {
      showListError(error);
    }
  }

  /** @param {string} id @returns {Element | null} */
  const rowOf = (id) => tbody.querySelector(`tr[data-job-id="${CSS.escape(id)}"]`);

  /** Puts a job where the newest-first listing would have it, or drops it when the filter excludes it. @param {Job} job */
  function upsert(job) {
    const existing = rowOf(job.job_id);
    if (filter.value && job.status !== filter.value) {
      existing?.remove();
    } else if (existing) {
      existing.replaceWith(jobRow(job));
    } else {
      const created = job.created_at ?? '';
      const later = [...tbody.children].find((row) => (row.getAttribute('data-created') ?? '') < created);
      if (later) later.before(jobRow(job));
      else if (nextCursor === null) tbody.append(jobRow(job));
    }
    updateEmpty();
  }

  /**
   * Job id -> the seq its row must reach (the read model may trail the stream by a moment) and how often it
   * was read already. @type {Map<string, { seq: number, tries: number }>}
   */
  const stale = new Map();
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let flushTimer;
  let stopped = false;
  /** Coalesces the events of a burst into one read per job. @param {string} id @param {number} seq */
  function refreshJob(id, seq, tries = 0) {
    const known = stale.get(id);
    stale.set(id, { seq: Math.max(seq, known?.seq ?? -1), tries: Math.max(tries, known?.tries ?? 0) });
    flushTimer ??= setTimeout(flush, 100);
  }
  async function flush() {
    const wanted = [...stale];
    stale.clear();
    for (const [jobId, { seq, tries }] of wanted) {
      let behind = true;
      try {
        const job = await api(jobPath(jobId));
        upsert(job);
        behind = job.seq < seq;
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 404)) showListError(error);
      }
      if (behind && tries < 20) refreshJob(jobId, seq, tries + 1);
    }
    flushTimer = undefined;
    if (stale.size > 0 && !stopped) flushTimer = setTimeout(flush, 150);
  }

  const chart = jobsChart();
  const ops = context.canOperate ? opsStrip() : null;
  let firstConnect = true;
  const feed = new LiveFeed({
    streamUrl: (cursor) => streamUrl('/events/stream', { after: cursor ?? undefined }),
    cursorOf: (event) => event.position,
    isAfter: (a, b) => b === null || BigInt(a) > BigInt(b),
    onEvent: (event) => {
      refreshJob(/** @type {string} */ (event.job_id), event.seq);
      chart.onEvent(event);
    },
    onConnected: (info) => {
      if (feed.cursor === null && typeof info.after === 'string') feed.cursor = info.after;
      // The first list was read before the stream started: read it again so nothing falls in between.
      if (firstConnect) {
        loadList().catch(showListError);
        chart.reload();
      }
      firstConnect = false;
    },
    onState: context.setConnection,
    onFailure: authProbe(),
    poll: async (cursor, signal) => {
      if (cursor === null) {
        await loadList(signal);
        await sleep(3000, signal);
        return [];
      }
      // Long-polls: the server answers as soon as an event arrives, or after 25 s with none.
      const page = await api(`/events?after=${cursor}&limit=500&wait=25`, { signal });
      return page.events;
    },
  });

  filter.addEventListener('change', () => loadList().catch(showListError));
  more.addEventListener('click', loadMore);
  const form = newJobForm(context, (job) => upsert(job));

  replaceChildren(
    root,
    ops?.element,
    h(
      'div',
      { class: 'jobs-layout' },
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'jobs-title' },
        h(
          'div',
          { class: 'view-head' },
          h('h1', { id: 'jobs-title' }, 'Jobs'),
          h('div', { class: 'filter' }, h('label', { for: 'status-filter' }, 'Status'), filter),
        ),
        chart.element,
        listError,
        h(
          'table',
          { class: 'jobs-table' },
          h('caption', { class: 'visually-hidden' }, 'Jobs, newest first'),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['Job', 'Pipeline', 'Status', 'Stage', 'Lane / queue', 'Updated'].map((c) =>
                h('th', { scope: 'col' }, c),
              ),
            ),
          ),
          tbody,
        ),
        empty,
        more,
      ),
      form,
    ),
  );
  loadList().catch(showListError);
  chart.reload();
  feed.start();
  const ticker = setInterval(() => refreshTimes(tbody), 5000);
  return () => {
    stopped = true;
    feed.stop();
    chart.stop();
    ops?.stop();
    clearInterval(ticker);
    clearTimeout(flushTimer);
    root.replaceChildren();
  };
}
