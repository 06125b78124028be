import { rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import type { BrowserContext, Page } from 'playwright-core';
import type { ConfigInput } from '../../src/infra/config/configSchema.ts';
import { ARTIFACTS, type LaunchedChromium, launchChromium, signIn } from '../helpers/chromium.ts';
import { createJob, jobEvents, waitFor } from '../helpers/runnerHarness.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { json, startTestServer, TOKENS } from '../helpers/testServer.ts';

/**
 * The demo build prints nothing until this file exists: the stage log test opens the page first, so the
 * stage is still running when the page looks at it, however slow the machine.
 */
const BUILD_GO = join(tmpdir(), `operator-ui-build-go-${process.pid}`);
/** The chatty stage prints its burst once this file exists (the page follows the log before it starts). */
const CHATTY_GO = join(tmpdir(), `operator-ui-chatty-go-${process.pid}`);
const CHATTY_LINES = 20_000;

/** `external` is driven over the API like an outside worker; `demo` runs real commands under the runner. */
const CONFIG: Partial<ConfigInput> = {
  streaming: { heartbeat_seconds: 1 },
  pipeline: { default: 'external', lanes: 20 },
  pipelines: {
    external: {
      description: 'stages reported by an external worker',
      stages: [{ name: 'ingest' }, { name: 'review', gate: { timeout: '1h' } }, { name: 'publish' }],
    },
    demo: {
      description: 'build, review, ship',
      stages: [
        {
          name: 'build',
          run: `while [ ! -e '${BUILD_GO}' ]; do sleep 0.1; done; for i in 1 2 3 4; do echo "building part $i"; sleep 0.3; done`,
        },
        { name: 'review', run: 'echo "release notes ready"', gate: { timeout: '1h' } },
        { name: 'ship', run: 'echo shipped' },
      ],
    },
    broken: { description: 'always fails', stages: [{ name: 'check', run: 'echo "checking"; exit 3' }] },
    loop: {
      description: 'one external stage whose gate reruns it when rejected',
      stages: [{ name: 'work', gate: { timeout: '1h', on_reject: 'rerun' } }],
    },
    chatty: {
      description: 'a burst of output',
      stages: [
        {
          name: 'flood',
          run: `while [ ! -e '${CHATTY_GO}' ]; do sleep 0.1; done; seq 1 ${CHATTY_LINES} | sed 's/^/chatty line /'`,
        },
      ],
    },
  },
};

let server: TestServer;
let browser: BrowserContext;
let chrome: LaunchedChromium;

test.before(async () => {
  server = await startTestServer(CONFIG, { runner: true });
  chrome = await launchChromium({ viewport: { width: 1280, height: 860 }, artifacts: true });
  browser = chrome.context;
});

test.after.always(async () => {
  await chrome?.close();
  await server?.stop();
  await rm(BUILD_GO, { force: true });
  await rm(CHATTY_GO, { force: true });
});

type Role = keyof typeof TOKENS;

/** Uncaught errors of any page: a test that passes with one is still a failure. */
const pageErrors: string[] = [];
test.afterEach('no page threw', (t) => {
  t.deepEqual(pageErrors.splice(0), []);
});

async function newPage(): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${error.message}`));
  return page;
}

/** A new tab (its own sessionStorage) signed in with a role's token. */
async function signedIn(role: Role, hash = ''): Promise<Page> {
  return signIn(await newPage(), server.url, TOKENS[role], hash);
}

const connection = (page: Page) => page.getAttribute('#conn', 'data-state');
const waitConnection = (page: Page, state: string, timeout = 15_000) =>
  page.waitForSelector(`#conn[data-state="${state}"]`, { timeout });

async function post(path: string, body: unknown = {}, as: Role = 'operator'): Promise<Response> {
  const res = await server.api(path, { method: 'POST', json: body, as });
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
  return res;
}

async function jobStatus(id: string): Promise<string> {
  return (await json<{ status: string }>(await server.api(`/jobs/${id}`))).status;
}

/** The read model answers the polling API and may trail the live stream: wait for it. */
const waitStatus = (id: string, status: string) =>
  waitFor(`job ${id} to be ${status}`, async () => (await jobStatus(id)) === status);

/** An `external` job, started by the runner, ready for its first stage. */
async function externalJob(): Promise<string> {
  const id = await createJob(server, 'external');
  await waitStatus(id, 'running');
  return id;
}

const stage = (id: string, name: string, action: 'start' | 'complete') =>
  post(`/jobs/${id}/stages/${name}/${action}`);

/** Drives an `external` job to its gate. */
async function toGate(id: string): Promise<void> {
  for (const name of ['ingest', 'review']) {
    await stage(id, name, 'start');
    await stage(id, name, 'complete');
  }
}

const stageStatus = (page: Page, name: string, status: string) =>
  page.waitForSelector(`#timeline li[data-stage="${name}"][data-status="${status}"]`);

/** The seq of every event row the page shows, in order. */
const shownSeqs = (page: Page) =>
  page.$$eval('#events-body tr[data-seq]', (rows) => rows.map((r) => Number(r.getAttribute('data-seq'))));

/** A GET with the path exactly as given (no URL normalisation). */
function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

/** The text of the first match, whitespace collapsed (textContent: what is in the DOM, visible or not). */
async function text(page: Page, selector: string): Promise<string> {
  return ((await page.textContent(selector)) ?? '').replace(/\s+/g, ' ').trim();
}

/**
 * Every event of the job is on the page exactly once, in order. The page hears events from the store's live
 * tail, which may run a moment ahead of the read model the polling API answers from: wait for it first.
 */
async function assertEachEventOnce(t: ExecutionContext, page: Page, id: string): Promise<void> {
  // The page may be ahead of the read model (live events) or behind it (still loading): wait until both
  // hold as many events, then compare them whole (a duplicate, a gap or a wrong order fails the compare,
  // which also runs, showing the difference, when the counts never meet).
  let events = await jobEvents(server, id);
  await waitFor('the page and the read model to hold as many events', async () => {
    events = await jobEvents(server, id);
    return events.length === (await shownSeqs(page)).length;
  }).catch(() => {});
  t.deepEqual(
    await shownSeqs(page),
    events.map((e) => e.seq),
  );
}

test('the UI is served with its content types and no-cache; no traversal; JSON 404; /me and /pipelines', async (t) => {
  for (const [path, type] of [
    ['/', 'text/html'],
    ['/ui/app.js', 'text/javascript'],
    ['/ui/style.css', 'text/css'],
  ] as const) {
    const res = await fetch(`${server.url}${path}`);
    t.is(res.status, 200, path);
    t.true(res.headers.get('content-type')?.startsWith(type), path);
    t.is(res.headers.get('cache-control'), 'no-cache', path);
  }
  // fetch would normalise `..` away: send the raw paths over a socket-level client.
  for (const path of [
    '/ui/../package.json',
    '/ui/%2e%2e/package.json',
    '/ui/..%2fpackage.json',
    '/ui/nope.js',
  ]) {
    const res = await rawGet(server.port, path);
    t.is(res.status, 404, path);
    t.is((JSON.parse(res.body) as { error: { code: string } }).error.code, 'not_found', path);
  }
  t.deepEqual(await json(await server.api('/me', { as: 'viewer' })), { name: 'victor', role: 'viewer' });
  const list = await json<{ pipelines: { name: string; stages: unknown[] }[]; default: string }>(
    await server.api('/pipelines', { as: 'viewer' }),
  );
  t.is(list.default, 'external');
  t.deepEqual(list.pipelines.find((p) => p.name === 'external')?.stages, [
    { name: 'ingest', gate: null, run: false },
    { name: 'review', gate: 'review', run: false },
    { name: 'publish', gate: null, run: false },
  ]);
  t.is((await server.api('/me', { as: null })).status, 401);
});

test('sign-in: a wrong token is refused with a clear message; a good one shows the role; a 401 later signs out', async (t) => {
  const page = await newPage();
  await page.goto(`${server.url}/`);
  t.true(await page.isVisible('#signin-view'));
  await page.fill('#signin-token', 'not-a-real-token');
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#signin-message:not([hidden])');
  t.regex(await text(page, '#signin-message'), /not accepted \(invalid token\)/);
  // A character beyond Latin-1 makes the browser's fetch throw; a space could never pass the header.
  for (const typed of ['token-\u20ac-euro', 'two words-token']) {
    await page.evaluate(() => {
      document.querySelector('#signin-message')?.setAttribute('hidden', '');
    });
    await page.fill('#signin-token', typed);
    await page.click('#signin-form button[type=submit]');
    await page.waitForSelector('#signin-message:not([hidden])');
    const message = await text(page, '#signin-message');
    t.regex(message, /the token has characters a token cannot have \(a token is printable ASCII/, typed);
    t.notRegex(message, /cannot be reached/, typed);
  }

  await page.fill('#signin-token', TOKENS.operator);
  await page.press('#signin-token', 'Enter');
  await page.waitForSelector('#who:not([hidden])');
  t.is(await text(page, '#who-name'), 'alice');
  t.is(await text(page, '#who-role'), 'operator');
  t.is(await page.evaluate(() => sessionStorage.getItem('operator.token')), TOKENS.operator);
  t.false(page.url().includes(TOKENS.operator), 'the token never appears in the address bar');
  await waitConnection(page, 'live');

  // The server stops accepting the stored token: the next call answers 401 and the page goes back to sign-in.
  await page.evaluate(() => sessionStorage.setItem('operator.token', 'revoked-token-0000'));
  await page.reload();
  await page.waitForSelector('#signin-view:not([hidden])');
  t.regex(await text(page, '#signin-message'), /no longer accepts this token \(invalid token\)/);
  t.is(await page.evaluate(() => sessionStorage.getItem('operator.token')), null);
  await page.close();
});

test('jobs list: a job created over the API appears without a reload and follows its status; filter; new-job form', async (t) => {
  const page = await signedIn('operator');
  await waitConnection(page, 'live');
  await page.evaluate(() => {
    (window as unknown as { notReloaded: boolean }).notReloaded = true;
  });
  const id = await createJob(server, 'external');
  const row = `#jobs-body tr[data-job-id="${id}"]`;
  await page.waitForSelector(row);
  await page.waitForSelector(`${row}[data-status="running"]`);
  await stage(id, 'ingest', 'start');
  await page.waitForFunction((sel) => document.querySelector(sel)?.textContent?.includes('ingest'), row);
  t.true(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded === true));

  // Filter by status: the running job goes away under "paused" and comes back under "running".
  await page.selectOption('#status-filter', 'paused');
  await page.waitForSelector(row, { state: 'detached' });
  await page.selectOption('#status-filter', 'running');
  await page.waitForSelector(row);
  await page.selectOption('#status-filter', '');

  // The form refuses params that are not a JSON object before sending anything.
  const before = (await json<{ jobs: unknown[] }>(await server.api('/jobs?limit=1000'))).jobs.length;
  await page.selectOption('#new-pipeline', 'external');
  await page.fill('#new-params', '{"release": ');
  await page.waitForSelector('#new-params-error:not([hidden])');
  t.is(await page.getAttribute('#new-params', 'aria-invalid'), 'true');
  await page.click('#new-job-form button[type=submit]');
  await page.fill('#new-params', '[1, 2]');
  t.regex(await text(page, '#new-params-error'), /must be a JSON object/);
  await page.click('#new-job-form button[type=submit]');
  t.is((await json<{ jobs: unknown[] }>(await server.api('/jobs?limit=1000'))).jobs.length, before);

  await page.fill('#new-params', '{"release": "1.2"}');
  t.true(await page.isHidden('#new-params-error'));
  await page.click('#new-job-form button[type=submit]');
  await page.waitForSelector('#new-job-form .message-ok a');
  const created = (await text(page, '#new-job-form .message-ok a')).trim();
  await page.waitForSelector(`#jobs-body tr[data-job-id="${created}"]`);
  const job = await json<{ pipeline: string; params: unknown }>(await server.api(`/jobs/${created}`));
  t.is(job.pipeline, 'external');
  t.deepEqual(job.params, { release: '1.2' });
  await page.close();
});

test('job page: the timeline follows the stages, with running time, durations and the gate', async (t) => {
  const id = await externalJob();
  const page = await signedIn('operator', `#/jobs/${id}`);
  await waitConnection(page, 'live');
  await stageStatus(page, 'ingest', 'pending');
  await stage(id, 'ingest', 'start');
  await stageStatus(page, 'ingest', 'running');
  await page.waitForFunction(() =>
    /running for/.test(
      document.querySelector('#timeline li[data-stage="ingest"] .stage-time')?.textContent ?? '',
    ),
  );
  await stage(id, 'ingest', 'complete');
  await stageStatus(page, 'ingest', 'completed');
  t.regex(await text(page, '#timeline li[data-stage="ingest"] .stage-time'), /^took /);
  await stage(id, 'review', 'start');
  await stageStatus(page, 'review', 'running');
  await stage(id, 'review', 'complete');
  await stageStatus(page, 'review', 'gated');
  await page.waitForSelector('#gate-panel:not([hidden])');
  t.is(await text(page, '#gate-title'), 'Waiting at gate review');
  t.is(await page.getAttribute('#timeline li[data-stage="publish"]', 'data-status'), 'pending');
  await assertEachEventOnce(t, page, id);
  await page.close();
});

test('gate: Approve with a comment resumes the job; the comment and the actor show in the timeline', async (t) => {
  const id = await externalJob();
  await toGate(id);
  const page = await signedIn('operator', `#/jobs/${id}`);
  await page.waitForSelector('#gate-panel:not([hidden])');
  await page.fill('#gate-comment', 'numbers look right');
  await page.click('#gate-approve');
  const gate = '#timeline li[data-stage="review"] .stage-gate[data-gate-status="approved"]';
  await page.waitForSelector(gate);
  t.regex(await text(page, gate), /approved by alice/);
  t.is(await text(page, `${gate} .gate-comment`), 'numbers look right');
  await page.waitForSelector('#gate-panel', { state: 'hidden' });
  await page.waitForSelector('#events-body tr[data-type="gate_approved"]');
  t.regex(await text(page, '#events-body tr[data-type="gate_approved"]'), /alice/);
  await waitStatus(id, 'running');
  await page.waitForSelector('#job-meta .badge-running');

  // The payload is there on demand.
  await page.click('#events-body tr[data-type="gate_approved"] summary');
  t.regex(await text(page, '#events-body tr[data-type="gate_approved"] details pre'), /numbers look right/);

  await stage(id, 'publish', 'start');
  await stage(id, 'publish', 'complete');
  await stageStatus(page, 'publish', 'completed');
  await waitConnection(page, 'ended');
  t.true(await page.isHidden('#job-cancel'));
  await assertEachEventOnce(t, page, id);

  // A refused command shows the API's own message (the request is bent on its way so the server refuses it).
  const second = await externalJob();
  await toGate(second);
  await page.goto(`${server.url}/#/jobs/${second}`);
  await page.waitForSelector('#gate-panel:not([hidden])');
  await page.route('**/gates/review/approve', (route) => route.continue({ postData: '{"comment": 5}' }));
  await page.click('#gate-approve');
  await page.waitForSelector('#job-error:not([hidden])');
  t.regex(await text(page, '#job-error'), /^invalid body: comment: /);
  t.is(await jobStatus(second), 'paused');
  await page.close();
});

test('the event filter box: text and field filters from the search API, live events matched too', async (t) => {
  const id = await externalJob();
  await toGate(id);
  const page = await signedIn('viewer', `#/jobs/${id}`);
  await assertEachEventOnce(t, page, id);
  const visibleSeqs = () =>
    page.$$eval('#events-body tr[data-seq]', (rows) =>
      rows.filter((r) => !(r as HTMLElement).hidden).map((r) => Number(r.getAttribute('data-seq'))),
    );
  const all = await jobEvents(server, id);
  const filterBy = async (text: string, expected: number[]) => {
    await page.fill('#events-filter', text);
    await page.waitForFunction(
      (want) =>
        JSON.stringify(
          [...document.querySelectorAll('#events-body tr[data-seq]')]
            .filter((r) => !(r as HTMLElement).hidden)
            .map((r) => Number(r.getAttribute('data-seq'))),
        ) === want,
      JSON.stringify(expected),
    );
    t.deepEqual(await visibleSeqs(), expected, text);
  };
  const review = all.filter((e) => e.message.toLowerCase().includes('review')).map((e) => e.seq);
  t.true(review.length > 0 && review.length < all.length);
  await filterBy('REVIEW', review);
  t.regex(
    await text(page, '#events-filter-status'),
    new RegExp(`^${review.length} of ${all.length} events$`),
  );
  await filterBy(
    'type:gate_pause',
    all.filter((e) => e.type === 'gate_pause').map((e) => e.seq),
  );
  await filterBy(
    'stage:ingest type:stage_completed',
    all.filter((e) => e.type === 'stage_completed' && e.stage === 'ingest').map((e) => e.seq),
  );
  await filterBy('nothing like this', []);
  t.is(await text(page, '#events-filter-status'), 'no event matches');
  // an event that arrives while filtered is matched as it comes
  await filterBy('type:gate_approved', []);
  await post(`/jobs/${id}/gates/review/approve`, { comment: 'fine' });
  const approved = await waitFor('the approval', async () =>
    (await jobEvents(server, id)).find((e) => e.type === 'gate_approved'),
  );
  // the row must be there and shown (a row not there yet is no answer: the read model can be ahead of the page)
  await page.waitForFunction((seq) => {
    const row = document.querySelector(`#events-body tr[data-seq="${seq}"]`) as HTMLElement | null;
    return row !== null && !row.hidden;
  }, approved.seq);
  t.deepEqual(await visibleSeqs(), [approved.seq]);
  // cleared: every row shows again
  await page.fill('#events-filter', '');
  await page.waitForFunction(() => document.querySelectorAll('#events-body tr[hidden]').length === 0);
  await assertEachEventOnce(t, page, id);
  t.is(await text(page, '#events-filter-status'), '');
  await page.close();
});

test('a viewer token sees the command buttons disabled', async (t) => {
  const id = await externalJob();
  await toGate(id);
  const page = await signedIn('viewer', `#/jobs/${id}`);
  t.is(await text(page, '#who-role'), 'viewer');
  await page.waitForSelector('#gate-panel:not([hidden])');
  for (const button of ['#gate-approve', '#gate-reject', '#job-cancel']) {
    t.true(await page.isDisabled(button), `${button} is disabled`);
  }
  t.true(await page.isDisabled('#gate-comment'));
  t.regex(await text(page, '#viewer-note'), /viewer/);
  await page.goto(`${server.url}/#/`);
  await page.waitForSelector('#new-job-form');
  t.true(await page.isDisabled('#new-job-form button[type=submit]'));
  await page.close();
});

test('a failed stage shows its error; Resume restarts it; errors from the API are shown as its message', async (t) => {
  const id = await createJob(server, 'broken');
  const page = await signedIn('operator', `#/jobs/${id}`);
  await stageStatus(page, 'check', 'failed');
  await page.waitForSelector('#job-resume:not([hidden])');
  t.regex(await text(page, '#timeline li[data-stage="check"]'), /failed/);
  await page.click('#job-resume');
  await page.waitForSelector('#events-body tr[data-type="job_resumed"]');
  await page.waitForSelector('#events-body tr[data-type="job_failed"] ~ tr[data-type="job_failed"]');
  await assertEachEventOnce(t, page, id);

  // Cancel asks for a confirmation first.
  const running = await externalJob();
  await page.goto(`${server.url}/#/jobs/${running}`);
  await page.waitForSelector('#job-cancel:not([hidden])');
  await page.click('#job-cancel');
  t.is(await text(page, '#job-cancel'), 'Confirm cancel');
  t.is(await jobStatus(running), 'running');
  await page.click('#job-cancel');
  await page.waitForSelector('#job-cancel', { state: 'hidden' });
  await waitStatus(running, 'canceled');
  await page.close();
});

test('the stage log follows a running stage live, each line once', async (t) => {
  const id = await createJob(server, 'demo', { release: '2.0' });
  const page = await signedIn('operator', `#/jobs/${id}`);
  await stageStatus(page, 'build', 'running');
  await writeFile(BUILD_GO, '');
  await page.waitForFunction(() =>
    document.querySelector('#stage-log')?.textContent?.includes('building part 1'),
  );
  t.is(await page.getAttribute('#timeline li[data-stage="build"]', 'data-status'), 'running');
  await page.waitForFunction(() =>
    document.querySelector('#stage-log')?.textContent?.includes('building part 4'),
  );
  const lines = ((await page.textContent('#stage-log')) ?? '')
    .split('\n')
    .filter((l) => / stdout building part/.test(l));
  t.deepEqual(
    lines.map((l) => l.replace(/^\S+ stdout /, '')),
    ['building part 1', 'building part 2', 'building part 3', 'building part 4'],
  );
  await stageStatus(page, 'review', 'gated');
  await page.waitForFunction(() =>
    document.querySelector('#stage-log')?.textContent?.includes('release notes'),
  );
  await page.screenshot({ path: join(ARTIFACTS, 'ui-gate.png'), fullPage: true });
  await page.close();
});

test('a burst of log lines is written to the page in a few updates, not one per line, and every line is shown once', async (t) => {
  // A page that writes each line on its own does not get through the burst at all: fail, do not hang.
  t.timeout(90_000);
  const id = await createJob(server, 'chatty');
  const page = await signedIn('operator', `#/jobs/${id}`);
  await stageStatus(page, 'flood', 'running');
  await page.waitForFunction(() =>
    /Following the log of flood \(live\)/.test(document.querySelector('#stage-log-note')?.textContent ?? ''),
  );
  // Counts the page's writes to the log element from here on.
  await page.evaluate(() => {
    const w = window as unknown as { logWrites: number };
    w.logWrites = 0;
    const pre = document.querySelector('#stage-log') as HTMLElement;
    new MutationObserver((records) => {
      w.logWrites += records.length;
    }).observe(pre, { childList: true, characterData: true, subtree: true });
  });
  await writeFile(CHATTY_GO, '');
  // The log as the page showed it when the last line arrived (read in the same turn: once the job ends, the
  // page moves on from the stage).
  const log = await page.waitForFunction(
    (last) => {
      const text = document.querySelector('#stage-log')?.textContent ?? '';
      return text.includes(`chatty line ${last}\n`) ? text : false;
    },
    CHATTY_LINES,
    { timeout: 60_000 },
  );
  const shown = String(await log.jsonValue())
    .split('\n')
    .filter((l) => / stdout chatty line /.test(l));
  const numbers = shown.map((l) => Number(l.replace(/^.* chatty line /, '')));
  // The page keeps the end of a long log: whatever it shows is a run of consecutive lines up to the last.
  const breaks = numbers.flatMap((n, i) =>
    i > 0 && n !== (numbers[i - 1] as number) + 1 ? [`${numbers[i - 1]}->${n}`] : [],
  );
  t.log(`shown ${numbers.length}: ${numbers[0]}..${numbers.at(-1)}; breaks ${breaks.slice(0, 10).join(' ')}`);
  t.true(numbers.length > 1000, `lines shown: ${numbers.length}`);
  t.deepEqual(
    numbers,
    Array.from({ length: numbers.length }, (_, i) => CHATTY_LINES - numbers.length + 1 + i),
  );
  const writes = await page.evaluate(() => (window as unknown as { logWrites: number }).logWrites);
  t.log(`${writes} writes to the log element for ${CHATTY_LINES} lines; ${numbers.length} lines kept`);
  t.true(writes <= CHATTY_LINES / 20, `${writes} writes to the log element for ${CHATTY_LINES} lines`);
  await page.close();
});

test('a long job opens with its events added to the table in batches, each once, in order', async (t) => {
  const id = await createJob(server, 'loop');
  await waitStatus(id, 'running');
  let lastSeq = -1;
  for (let round = 0; round < 100; round++) {
    await post(`/jobs/${id}/stages/work/start`);
    await post(`/jobs/${id}/stages/work/complete`);
    const rejected = await post(`/jobs/${id}/gates/work/reject`, { comment: `round ${round}` });
    lastSeq = (await json<{ job: { seq: number } }>(rejected)).job.seq;
  }
  await waitFor(
    'the read model to hold every event',
    async () => (await jobEvents(server, id)).length === lastSeq + 1,
  );
  const events = await jobEvents(server, id);
  t.true(events.length > 400, `${events.length} events`);
  const page = await newPage();
  // Counts the insertions into the event table from the first script on.
  await page.addInitScript(() => {
    const w = window as unknown as { rowInserts: number };
    w.rowInserts = 0;
    new MutationObserver((records) => {
      for (const r of records)
        if ((r.target as Element).id === 'events-body' && r.addedNodes.length > 0) w.rowInserts++;
    }).observe(document, { childList: true, subtree: true });
  });
  await signIn(page, server.url, TOKENS.operator, `#/jobs/${id}`);
  await page.waitForFunction(
    (n) => document.querySelectorAll('#events-body tr[data-seq]').length >= n,
    events.length,
  );
  t.deepEqual(
    await shownSeqs(page),
    events.map((e) => e.seq),
  );
  const inserts = await page.evaluate(() => (window as unknown as { rowInserts: number }).rowInserts);
  t.log(`${events.length} events added to the table in ${inserts} insertions`);
  t.true(inserts <= events.length / 4, `${inserts} insertions for ${events.length} events`);
  await page.close();
});

test('after a server restart mid-stream the page reconnects and shows the later events exactly once', async (t) => {
  const id = await externalJob();
  const page = await signedIn('operator', `#/jobs/${id}`);
  await waitConnection(page, 'live');
  await stage(id, 'ingest', 'start');
  await stageStatus(page, 'ingest', 'running');

  const { dir, port } = server;
  await server.close();
  await page.waitForSelector('#conn:not([data-state="live"])');
  server = await startTestServer(CONFIG, { runner: true, dir, port });
  // Written before the page is back: it must resume after the last event it showed, with no gap.
  await stage(id, 'ingest', 'complete');
  await stage(id, 'review', 'start');
  await stageStatus(page, 'review', 'running');
  await assertEachEventOnce(t, page, id);
  await waitConnection(page, 'live');
  await page.close();
});

test('with EventSource blocked the page falls back to polling, still shows new events, and goes live again', async (t) => {
  const id = await externalJob();
  const page = await newPage();
  const blocked = (url: URL) => url.pathname.endsWith('/events/stream');
  await page.route(blocked, (route) => route.abort('connectionrefused'));
  await page.goto(`${server.url}/#/jobs/${id}`);
  await page.fill('#signin-token', TOKENS.operator);
  await page.click('#signin-form button[type=submit]');
  await waitConnection(page, 'polling');
  await page.waitForSelector('#events-body tr[data-type="job_started"]');
  await stage(id, 'ingest', 'start');
  await stageStatus(page, 'ingest', 'running');
  await stage(id, 'ingest', 'complete');
  await stageStatus(page, 'ingest', 'completed');
  t.is(await connection(page), 'polling');
  await assertEachEventOnce(t, page, id);

  // The jobs list polls too.
  await page.goto(`${server.url}/#/`);
  await waitConnection(page, 'polling');
  const created = await createJob(server, 'external');
  await page.waitForSelector(`#jobs-body tr[data-job-id="${created}"]`);

  await page.unroute(blocked);
  await waitConnection(page, 'live', 20_000);
  await page.goto(`${server.url}/#/jobs/${id}`);
  await waitConnection(page, 'live');
  await stage(id, 'review', 'start');
  await stageStatus(page, 'review', 'running');
  await assertEachEventOnce(t, page, id);
  await page.close();
});

test('layouts: nothing overflows at 390 px; screenshot of the jobs list', async (t) => {
  const running = await externalJob();
  await stage(running, 'ingest', 'start');
  const page = await signedIn('operator');
  await page.waitForSelector(`#jobs-body tr[data-job-id="${running}"]`);
  await page.screenshot({ path: join(ARTIFACTS, 'ui-jobs.png'), fullPage: true });

  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  t.true((await overflow()) <= 0, 'jobs list fits 390 px');
  await page.goto(`${server.url}/#/jobs/${running}`);
  await stageStatus(page, 'ingest', 'running');
  t.true((await overflow()) <= 0, 'job page fits 390 px');
  await page.screenshot({ path: join(ARTIFACTS, 'ui-job-390.png'), fullPage: true });
  // one unbroken word of free text (a fail reason, a gate comment) wraps instead of widening the page
  const word = 'x'.repeat(3000);
  const rejected = await externalJob();
  await toGate(rejected);
  await waitStatus(rejected, 'paused');
  const decided = await server.api(`/jobs/${rejected}/gates/review/reject`, {
    method: 'POST',
    json: { comment: word },
  });
  t.is(decided.status, 200, await decided.text());
  await page.goto(`${server.url}/#/jobs/${rejected}`);
  await page.waitForSelector('.gate-comment');
  t.true(
    (await overflow()) <= 0,
    `job page with a 3,000-character word fits 390 px (${await overflow()} over)`,
  );
  await page.setViewportSize({ width: 1280, height: 860 });
  t.true((await overflow()) <= 0, 'and 1,280 px');
  await page.close();
});

test('the Gantt axis names each tick with every unit it has (1m 30s, not 2m); a gate label stays inside the picture', async (t) => {
  const page = await newPage();
  await page.goto(server.url);
  const labels = await page.evaluate(async () => {
    const gantt = (await import(`${'/ui/jobGantt.js'}`)) as { tickLabel(ms: number): string };
    return [0, 30_000, 60_000, 90_000, 150_000, 3_600_000, 5_400_000, 3_661_000].map(gantt.tickLabel);
  });
  t.deepEqual(labels, ['0', '30s', '1m', '1m 30s', '2m 30s', '1h', '1h 30m', '1h 1m 1s']);
  // a gate still waiting reaches the right edge: its label ends inside the picture, not past it
  const id = await externalJob();
  await toGate(id);
  await waitStatus(id, 'paused');
  await signIn(page, server.url, TOKENS.viewer, `#/jobs/${id}`);
  await page.waitForSelector('#gantt .gantt-gate-label');
  const placed = await page.evaluate(() => {
    const svg = document.querySelector('#gantt') as SVGSVGElement;
    const label = svg.querySelector('.gantt-gate-label') as SVGTextElement;
    const box = label.getBBox();
    return { text: label.textContent, left: box.x, right: box.x + box.width, width: svg.width.baseVal.value };
  });
  t.is(placed.text, 'waiting');
  t.true(placed.left >= 0 && placed.right <= placed.width, JSON.stringify(placed));
  await page.close();
});
