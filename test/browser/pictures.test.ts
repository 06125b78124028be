import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import test from 'ava';
import type { BrowserContext, Page } from 'playwright-core';
import type { JobEvent } from '../../src/domain/events.ts';
import type { ConfigInput } from '../../src/infra/config/configSchema.ts';
import {
  ARTIFACTS,
  type LaunchedChromium,
  launchChromium,
  recordPageProblems,
  signIn,
} from '../helpers/chromium.ts';
import type { ManualClock } from '../helpers/runnerHarness.ts';
import { createJob, jobEvents, manualClock, waitFor } from '../helpers/runnerHarness.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { json, startTestServer, TOKENS } from '../helpers/testServer.ts';

const AXE_SOURCE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/**
 * No runner: every stage is reported over the API, and the server stamps each event with a manual clock,
 * so the log's times (and so the pictures' lengths) are exactly the ones a test chose.
 */
const CONFIG: Partial<ConfigInput> = {
  streaming: { heartbeat_seconds: 1 },
  // Jobs are started by hand side by side: lanes to spare.
  pipeline: { default: 'pictured', lanes: 1000 },
  pipelines: {
    pictured: {
      description: 'ingest (retried), review behind a gate, publish',
      stages: [
        { name: 'ingest', retries: 2 },
        { name: 'review', gate: { timeout: '2h' } },
        { name: 'publish' },
      ],
    },
    quick: { description: 'one stage', stages: [{ name: 'only' }] },
  },
};

let server: TestServer;
let clock: ManualClock;
let browser: BrowserContext;
let chrome: LaunchedChromium;
let axeSource: string;

test.before(async () => {
  // Five hours ago, on the hour and ten minutes: the log fits in the jobs chart's last 24 hours, and the
  // chart's first finishes fall in known hours.
  const start = new Date(Date.now() - 5 * HOUR);
  start.setMinutes(10, 0, 0);
  clock = manualClock(start);
  server = await startTestServer(CONFIG, { runner: false, clock });
  chrome = await launchChromium({ viewport: { width: 1280, height: 900 }, artifacts: true });
  browser = chrome.context;
  axeSource = await readFile(AXE_SOURCE, 'utf8');
});

test.after.always(async () => {
  await chrome?.close();
  await server?.stop();
});

type Role = keyof typeof TOKENS;

/** Uncaught errors, console errors and failed requests of any page: each one fails the test it happened in. */
const problems: string[] = [];
test.afterEach('no page error, console error or failed request', (t) => {
  t.deepEqual(problems.splice(0), []);
});

async function newPage(): Promise<Page> {
  const page = await browser.newPage();
  recordPageProblems(page, problems);
  return page;
}

async function signedIn(role: Role, hash = ''): Promise<Page> {
  return signIn(await newPage(), server.url, TOKENS[role], hash);
}

async function post(path: string, body: unknown = {}, as: Role = 'operator'): Promise<void> {
  const res = await server.api(path, { method: 'POST', json: body, as });
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
}

/** Moves the server's clock on, then sends the command: its events carry the new time. */
async function after(ms: number, path: string, body: unknown = {}, as: Role = 'operator'): Promise<void> {
  clock.advance(ms);
  await post(path, body, as);
}

const stagePath = (id: string, stage: string, action: 'start' | 'complete' | 'fail') =>
  `/jobs/${id}/stages/${stage}/${action}`;

/** A `pictured` job at its gate, `minutes` of clock time after it was created. */
async function jobAtGate(): Promise<string> {
  const id = await createJob(server, 'pictured');
  await after(MINUTE, `/jobs/${id}/start`);
  for (const stage of ['ingest', 'review']) {
    await after(MINUTE, stagePath(id, stage, 'start'));
    await after(MINUTE, stagePath(id, stage, 'complete'));
  }
  return id;
}

/** The read model answers the polling API: wait until it holds the job's last event. */
const eventsUntil = (id: string, type: JobEvent['type']) =>
  waitFor(`${type} of ${id}`, async () => {
    const events = await jobEvents(server, id);
    return events.some((e) => e.type === type) ? events : undefined;
  });

interface DrawnBar {
  kind: string;
  row: string;
  name: string;
  attempt: number;
  outcome: string;
  actor: string | null;
  fill: string;
  /** Rendered, in CSS pixels from the picture's left edge. */
  left: number;
  width: number;
  /** As drawn: the rect's `x` and `width` attributes and its `data-start`, for the failure messages. */
  drawn: string;
}

interface DrawnGantt {
  x0: number;
  x1: number;
  t0: string;
  t1: string;
  bars: DrawnBar[];
}

/**
 * The Gantt as drawn: every bar in document order with its rendered position and size. Looked up and
 * measured in one task of the page: the chart is drawn anew on every change (a new `<svg>`), and a handle
 * taken in one call and measured in the next could be a picture already replaced, with no layout (every box
 * 0).
 */
function drawnGantt(page: Page): Promise<DrawnGantt> {
  return page.evaluate(() => {
    const svg = document.querySelector('#gantt');
    if (!svg) throw new Error('no #gantt in the page');
    const box = svg.getBoundingClientRect();
    const data = (svg as SVGElement).dataset;
    return {
      x0: Number(data['x0']),
      x1: Number(data['x1']),
      t0: data['t0'] ?? '',
      t1: data['t1'] ?? '',
      bars: [...svg.querySelectorAll<SVGRectElement>('rect.gantt-bar')].map((rect) => {
        const r = rect.getBoundingClientRect();
        return {
          kind: rect.dataset['kind'] ?? '',
          row: rect.dataset['row'] ?? '',
          name: rect.dataset['name'] ?? '',
          attempt: Number(rect.dataset['attempt']),
          outcome: rect.dataset['outcome'] ?? '',
          actor: rect.dataset['actor'] ?? null,
          fill: rect.getAttribute('fill') ?? '',
          left: r.left - box.left,
          width: r.width,
          drawn: `x=${rect.getAttribute('x')} width=${rect.getAttribute('width')} start=${rect.dataset['start']}`,
        };
      }),
    };
  });
}

const barCount = (page: Page) => page.$$eval('#gantt rect.gantt-bar', (rects) => rects.length);

interface AxeResult {
  violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[];
}

/** axe-core in the page; only serious and critical violations, each as "rule: help (targets)". */
async function axeSerious(page: Page): Promise<string[]> {
  // Evaluated through the debugging protocol, not as a <script> tag: the page's CSP refuses inline script,
  // and rightly so, and the test must not switch that off for the pages it checks.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(`${axeSource}\n;undefined`);
  const result = await page.evaluate(
    () => (window as unknown as { axe: { run(): Promise<unknown> } }).axe.run() as Promise<AxeResult>,
  );
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')})`);
}

interface Finish {
  id: string;
  ts: string;
  type: string;
}

/** A one-stage `quick` job driven to its end: completed, or failed at its stage. */
async function finishQuickJob(outcome: 'completed' | 'failed'): Promise<string> {
  const id = await createJob(server, 'quick');
  await after(MINUTE, `/jobs/${id}/start`);
  await after(MINUTE, stagePath(id, 'only', 'start'));
  await after(
    MINUTE,
    stagePath(id, 'only', outcome === 'completed' ? 'complete' : 'fail'),
    outcome === 'completed' ? {} : { reason: 'bad input' },
  );
  return id;
}

/** Every job_completed / job_failed of the log, from the search API. */
async function finishes(): Promise<Finish[]> {
  const res = await server.api('/events/search?type=job_completed,job_failed&limit=1000');
  return (await json<{ events: Finish[] }>(res)).events;
}

interface ChartHour {
  hour: string;
  completed: number;
  failed: number;
  height: number;
}

/** Looked up and measured in one task of the page, as `drawnGantt` (the chart too is drawn anew on changes). */
const chartHours = (page: Page): Promise<ChartHour[]> =>
  page.evaluate(() =>
    [...document.querySelectorAll('#jobs-chart g.chart-hour')].map((g) => {
      const data = (g as SVGElement).dataset;
      const height = [...g.querySelectorAll('rect')].reduce(
        (sum, r) => sum + r.getBoundingClientRect().height,
        0,
      );
      return {
        hour: data['hour'] ?? '',
        completed: Number(data['completed']),
        failed: Number(data['failed']),
        height,
      };
    }),
  );

/** The chart's hours counted from the log: each finish in the hour that starts at `hour`. */
function expectedHours(hours: ChartHour[], log: Finish[]): { completed: number; failed: number }[] {
  return hours.map(({ hour }) => {
    const from = Date.parse(hour);
    const inHour = log.filter((e) => Date.parse(e.ts) >= from && Date.parse(e.ts) < from + HOUR);
    return {
      completed: inHour.filter((e) => e.type === 'job_completed').length,
      failed: inHour.filter((e) => e.type === 'job_failed').length,
    };
  });
}

test('jobs chart: finished and failed per hour match the log, grow live, and the queue length follows', async (t) => {
  // Two hours of known finishes: 2 completed in the first, 1 completed and 1 failed in the next.
  await finishQuickJob('completed');
  await finishQuickJob('completed');
  clock.advance(HOUR);
  await finishQuickJob('completed');
  const failed = await finishQuickJob('failed');
  await eventsUntil(failed, 'job_failed');

  const page = await signedIn('operator');
  await page.evaluate(() => {
    (window as unknown as { notReloaded: boolean }).notReloaded = true;
  });
  await page.waitForSelector('#jobs-chart g.chart-hour[data-completed="2"]');
  const hours = await chartHours(page);
  t.is(hours.length, 24);
  const log = await finishes();
  t.is(log.length, 4);
  t.deepEqual(
    hours.map(({ completed, failed }) => ({ completed, failed })),
    expectedHours(hours, log),
  );
  // The known distribution: the hour of the first two finishes, then the next one.
  const busy = hours.filter((h) => h.completed + h.failed > 0);
  t.deepEqual(
    busy.map(({ completed, failed }) => [completed, failed]),
    [
      [2, 0],
      [1, 1],
    ],
  );
  // Bars are drawn to one scale: both busy hours hold two finishes, so they stand equally tall.
  t.true(Math.abs((busy[0]?.height ?? 0) - (busy[1]?.height ?? -1)) <= 1);
  t.true((busy[0]?.height ?? 0) > 20);
  t.regex((await page.textContent('#chart-summary')) ?? '', /3 completed and 1 failed/);

  // Live: a job finishing now lands in its hour without a reload.
  const total = () =>
    page.$$eval('#jobs-chart g.chart-hour', (gs) =>
      gs.reduce((n, g) => n + Number((g as SVGElement).dataset['completed']), 0),
    );
  t.is(await total(), 3);
  await finishQuickJob('completed');
  await page.waitForFunction(
    () =>
      [...document.querySelectorAll('#jobs-chart g.chart-hour')].reduce(
        (n, g) => n + Number((g as SVGElement).dataset['completed']),
        0,
      ) === 4,
  );
  t.deepEqual(
    (await chartHours(page)).map(({ completed, failed }) => ({ completed, failed })),
    expectedHours(await chartHours(page), await finishes()),
  );

  // The queue length: a job created waits (runner off), starting it leaves the queue.
  const queued = () => page.getAttribute('#queue-length', 'data-queued');
  t.is(await queued(), '0');
  const waiting = await createJob(server, 'quick');
  await page.waitForSelector('#queue-length[data-queued="1"]');
  t.is((await page.textContent('#queue-length'))?.trim(), '1');
  await after(MINUTE, `/jobs/${waiting}/start`);
  await page.waitForSelector('#queue-length[data-queued="0"]');
  t.true(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded === true));
  // For the screenshot: the ops strip's next refresh counts this page's own stream.
  await page.waitForSelector('#ops-strip:not([data-streams="0"])[data-streams]', { timeout: 12_000 });
  await page.screenshot({
    path: join(ARTIFACTS, 'ui-charts.png'),
    clip: { x: 0, y: 0, width: 1280, height: 560 },
  });
  await page.close();
});

test('Gantt of a known log: bar order, the failure and the retry, the gate wait to the pixel and who decided it', async (t) => {
  // Minutes after creation: queued 0-2, ingest fails 2-7, retried 8-15, review 15-20, the gate waits 20-50
  // (approved by alice), publish 50-60. Sixty minutes in all: the gate's half-hour is half the axis.
  const id = await createJob(server, 'pictured');
  const created = clock.now().getTime();
  await after(2 * MINUTE, `/jobs/${id}/start`);
  await post(stagePath(id, 'ingest', 'start'));
  await after(5 * MINUTE, stagePath(id, 'ingest', 'fail'), { reason: 'source not ready' });
  await after(MINUTE, stagePath(id, 'ingest', 'start'));
  await after(7 * MINUTE, stagePath(id, 'ingest', 'complete'));
  await post(stagePath(id, 'review', 'start'));
  await after(5 * MINUTE, stagePath(id, 'review', 'complete'));
  await after(30 * MINUTE, `/jobs/${id}/gates/review/approve`, { comment: 'reads well' });
  await post(stagePath(id, 'publish', 'start'));
  await after(10 * MINUTE, stagePath(id, 'publish', 'complete'));
  const events = await eventsUntil(id, 'job_completed');
  t.is(Date.parse(events.at(-1)?.ts ?? '') - Date.parse(events[0]?.ts ?? ''), 60 * MINUTE);
  t.is(Date.parse(events[0]?.ts ?? ''), created);

  const page = await signedIn('viewer', `#/jobs/${id}`);
  await page.waitForSelector('#events-body tr[data-type="job_completed"]');
  await page.waitForSelector('#gantt rect.gantt-bar[data-name="publish"][data-outcome="completed"]');
  const gantt = await drawnGantt(page);
  t.is(gantt.t0, events[0]?.ts as string);
  t.is(gantt.t1, events.at(-1)?.ts as string);
  t.deepEqual(
    gantt.bars.map((b) => [b.kind, b.name, b.attempt, b.outcome]),
    [
      ['queue', 'queue', 1, 'started'],
      ['stage', 'ingest', 1, 'failed'],
      ['stage', 'ingest', 2, 'completed'],
      ['stage', 'review', 1, 'completed'],
      ['gate', 'review', 1, 'approved'],
      ['stage', 'publish', 1, 'completed'],
    ],
  );
  // Each bar where its events put it, within a pixel: [start, end] in minutes after creation.
  const perMinute = (gantt.x1 - gantt.x0) / 60;
  const spans = [
    [0, 2],
    [2, 7],
    [8, 15],
    [15, 20],
    [20, 50],
    [50, 60],
  ];
  gantt.bars.forEach((bar, i) => {
    const [from, to] = spans[i] as [number, number];
    const left = gantt.x0 + from * perMinute;
    const width = (to - from) * perMinute;
    // The drawn figures are in the messages, so that a failure says by how much and where.
    t.true(
      Math.abs(bar.left - left) <= 1,
      `${bar.name} #${i} starts at ${from}m: drawn at ${bar.left}, expected ${left} (x0 ${gantt.x0}, x1 ${gantt.x1}; ${bar.drawn})`,
    );
    t.true(
      Math.abs(bar.width - width) <= 1,
      `${bar.name} #${i} lasts ${to - from}m: drawn ${bar.width} wide, expected ${width}`,
    );
  });
  const gate = gantt.bars[4] as DrawnBar;
  t.true(Math.abs(gate.width - (gantt.x1 - gantt.x0) / 2) <= 1, 'the half-hour gate wait is half the axis');
  t.true(gate.width > 300, 'drawn at the page width, not a thumbnail');
  t.regex(gate.fill, /^url\(#gantt-gate-\d+\)$/, 'the gate wait is hatched');
  t.is(gate.actor, 'alice');
  t.is(await page.textContent('#gantt .gantt-gate-label'), 'approved by alice');
  t.is(await page.$$eval('#gantt .gantt-fail-mark', (marks) => marks.length), 1);
  t.is((await page.textContent('#gantt .gantt-attempt'))?.trim(), '#2');
  t.regex(
    (await page.getAttribute('#gantt rect.gantt-bar[data-outcome="failed"] + *', 'class')) ?? '',
    /gantt-fail-mark/,
  );
  t.regex(
    (await page.textContent('#gantt rect.gantt-bar[data-kind="gate"] title')) ?? '',
    /gate review: approved by alice after 30\.0s|gate review: approved by alice after 30m 00s/,
  );
  t.regex(
    (await page.textContent('#gantt-summary')) ?? '',
    /^1h 00m in all: 4 stage attempts, 1 failed, 30m 00s waiting at a gate\.$/,
  );
  await page.locator('.gantt-panel').screenshot({ path: join(ARTIFACTS, 'ui-gantt.png') });
  await page.close();
});

test('the Gantt grows live: a new stage event adds its bar without a reload, and a running bar reaches to now', async (t) => {
  const id = await createJob(server, 'pictured');
  await after(MINUTE, `/jobs/${id}/start`);
  const page = await signedIn('operator', `#/jobs/${id}`);
  await page.waitForSelector('#conn[data-state="live"]');
  await page.waitForSelector('#gantt rect.gantt-bar[data-kind="queue"][data-outcome="started"]');
  await page.evaluate(() => {
    (window as unknown as { notReloaded: boolean }).notReloaded = true;
  });
  t.is(await barCount(page), 1);

  await after(MINUTE, stagePath(id, 'ingest', 'start'));
  await page.waitForSelector('#gantt rect.gantt-bar[data-name="ingest"][data-outcome="running"]');
  t.is(await barCount(page), 2);
  // The open bar ends at the page's now (the dashed line), past the last event.
  const running = (await drawnGantt(page)).bars[1] as DrawnBar;
  const { x1 } = await drawnGantt(page);
  t.true(Math.abs(running.left + running.width - x1) <= 1);

  await after(MINUTE, stagePath(id, 'ingest', 'fail'), { reason: 'flaky source' });
  await page.waitForSelector('#gantt rect.gantt-bar[data-name="ingest"][data-outcome="failed"]');
  await after(MINUTE, stagePath(id, 'ingest', 'start'));
  await page.waitForSelector('#gantt rect.gantt-bar[data-name="ingest"][data-attempt="2"]');
  await after(MINUTE, stagePath(id, 'ingest', 'complete'));
  await after(MINUTE, stagePath(id, 'review', 'start'));
  await after(MINUTE, stagePath(id, 'review', 'complete'));
  await page.waitForSelector('#gantt rect.gantt-bar[data-kind="gate"][data-outcome="waiting"]');
  t.deepEqual(
    (await drawnGantt(page)).bars.map((b) => `${b.kind}:${b.name}:${b.outcome}`),
    [
      'queue:queue:started',
      'stage:ingest:failed',
      'stage:ingest:completed',
      'stage:review:completed',
      'gate:review:waiting',
    ],
  );
  t.true(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded === true));
  await page.close();
});

test('ops strip: operators see projection lag, live streams and webhooks from /status/ops; viewers do not', async (t) => {
  const page = await signedIn('operator');
  await page.waitForSelector('#ops-strip [data-ops="lag"]');
  await page.waitForSelector('#conn[data-state="live"]');
  const status = await json<{
    projections: { lag_events: number };
    streams: { clients: number };
    webhooks: { endpoints: number; failing: number; disabled: number } | null;
    queue: { queued: number };
  }>(await server.api('/status/ops', { as: 'operator' }));
  t.true(status.streams.clients >= 1, 'the page itself holds a stream');
  t.deepEqual(status.webhooks, { endpoints: 0, failing: 0, disabled: 0 });
  t.is(typeof status.queue.queued, 'number');
  // The strip shows what the route says (it refreshes every 5 s; wait for the figures to agree).
  await page.waitForFunction(
    (clients) => document.querySelector<HTMLElement>('#ops-strip')?.dataset['streams'] === String(clients),
    status.streams.clients,
    { timeout: 12_000 },
  );
  t.is(await page.getAttribute('#ops-strip', 'data-failing'), '0');
  t.regex((await page.textContent('#ops-strip [data-ops="webhooks"]')) ?? '', /Webhooks failing\s*0 of 0/);
  t.regex((await page.textContent('#ops-strip [data-ops="lag"]')) ?? '', /Projection lag\s*\d+ events?/);
  await page.close();

  t.is((await server.api('/status/ops', { as: 'viewer' })).status, 403);
  t.is((await server.api('/status/ops', { as: null })).status, 401);
  const openapi = await json<{
    paths: Record<string, { get?: { responses: Record<string, { content?: unknown }> } }>;
  }>(await server.api('/openapi.json', { as: null }));
  t.truthy(openapi.paths['/api/v1/status/ops']?.get?.responses['200']?.content, 'documented with its schema');

  const viewer = await signedIn('viewer');
  await viewer.waitForSelector('#jobs-chart');
  t.is(await viewer.$('#ops-strip'), null);
  await viewer.close();
});

test('accessibility: no serious or critical axe violation on sign-in, the jobs list and a job at a gate; no console error', async (t) => {
  const id = await jobAtGate();
  const page = await newPage();
  await page.goto(`${server.url}/`);
  await page.waitForSelector('#signin-view:not([hidden])');
  t.deepEqual(await axeSerious(page), [], 'sign-in page');

  await page.fill('#signin-token', TOKENS.operator);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#jobs-chart');
  await page.waitForSelector('#ops-strip [data-ops="lag"]');
  await page.waitForSelector('#jobs-body tr');
  t.deepEqual(await axeSerious(page), [], 'jobs list');

  await page.goto(`${server.url}/#/jobs/${id}`);
  await page.waitForSelector('#gate-panel:not([hidden])');
  await page.waitForSelector('#gantt rect.gantt-bar[data-kind="gate"]');
  t.deepEqual(await axeSerious(page), [], 'job page at a gate');
  // The favicon is the page's own: no request for /favicon.ico (a 404 would show as a problem).
  t.regex((await page.getAttribute('link[rel=icon]', 'href')) ?? '', /^data:image\/svg\+xml,/);
  const iconWidth = await page.evaluate(async () => {
    const img = new Image();
    img.src = document.querySelector('link[rel=icon]')?.getAttribute('href') ?? '';
    await img.decode();
    return img.naturalWidth;
  });
  t.true(iconWidth > 0, 'the icon is a picture the browser can draw');
  await page.close();
});

/** Tabs through the page from the top until `selector` has the focus; returns every element focused on the way. */
async function tabTo(page: Page, selector: string, most = 80): Promise<{ id: string; outline: string }[]> {
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  const seen: { id: string; outline: string }[] = [];
  for (let i = 0; i < most; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate((sel) => {
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return null;
      const style = getComputedStyle(el);
      return {
        id: el.id || `${el.tagName.toLowerCase()}:${(el.textContent ?? '').trim().slice(0, 20)}`,
        outline: `${style.outlineStyle} ${style.outlineWidth}`,
        target: el.matches(sel),
      };
    }, selector);
    if (!focused) continue;
    seen.push({ id: focused.id, outline: focused.outline });
    if (focused.target) return seen;
  }
  throw new Error(
    `${selector} was not reached in ${most} presses of Tab (saw ${seen.map((s) => s.id).join(', ')})`,
  );
}

const visiblyFocused = (outline: string) => !outline.startsWith('none') && !/ 0px$/.test(outline);

test('keyboard: every action of a job at a gate is reached by Tab with a visible focus; Approve and Reject work by keyboard', async (t) => {
  const approved = await jobAtGate();
  const page = await signedIn('operator', `#/jobs/${approved}`);
  await page.waitForSelector('#gate-panel:not([hidden])');
  const path = await tabTo(page, '#gate-reject');
  const ids = path.map((p) => p.id);
  for (const action of ['job-cancel', 'gate-comment', 'gate-approve', 'gate-reject'])
    t.true(ids.includes(action), `${action} is reached by Tab`);
  for (const step of path)
    t.true(visiblyFocused(step.outline), `${step.id} shows its focus (${step.outline})`);
  // The rest of the page too: the stage log picker, the event filter and the events box.
  const rest = await tabTo(page, '.events-box');
  for (const step of rest)
    t.true(visiblyFocused(step.outline), `${step.id} shows its focus (${step.outline})`);

  // Approve: type a comment, Tab to the button, Enter.
  await tabTo(page, '#gate-comment');
  await page.keyboard.type('fine by keyboard');
  await page.keyboard.press('Tab');
  t.is(await page.evaluate(() => document.activeElement?.id), 'gate-approve');
  await page.keyboard.press('Enter');
  const done = await eventsUntil(approved, 'gate_approved');
  t.is(done.find((e) => e.type === 'gate_approved')?.actor, 'alice');
  t.is(done.find((e) => e.type === 'gate_approved')?.payload['comment'], 'fine by keyboard');
  await page.waitForSelector('#gate-panel', { state: 'hidden' });

  // Reject: Tab to it, Space.
  const rejected = await jobAtGate();
  await page.goto(`${server.url}/#/jobs/${rejected}`);
  await page.waitForSelector('#gate-panel:not([hidden])');
  await tabTo(page, '#gate-reject');
  await page.keyboard.press('Space');
  const events = await eventsUntil(rejected, 'gate_rejected');
  t.is(events.find((e) => e.type === 'gate_rejected')?.actor, 'alice');
  await page.waitForSelector('#gantt rect.gantt-bar[data-kind="gate"][data-outcome="rejected"]');
  t.is(await page.textContent('#gantt .gantt-gate-label'), 'rejected by alice');
  await page.close();
});
