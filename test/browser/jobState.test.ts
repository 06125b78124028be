import type { ExecutionContext } from 'ava';
import test from 'ava';
import type { BrowserContext, Page } from 'playwright-core';
import type { z } from 'zod';
import { eventPayloadSchemas } from '../../src/domain/eventCatalogue.ts';
import { EVENT_TYPES, type JobEvent } from '../../src/domain/events.ts';
import { evolve, initialState } from '../../src/domain/jobDecider.ts';
import type { JobState } from '../../src/domain/jobState.ts';
import type { PipelineDefinition } from '../../src/domain/pipeline.ts';
import { type LaunchedChromium, launchChromium, recordPageProblems, signIn } from '../helpers/chromium.ts';
import { JobTraffic } from '../helpers/jobTraffic.ts';
import { jobEvents, waitFor } from '../helpers/runnerHarness.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { json, startTestServer, TOKENS } from '../helpers/testServer.ts';

/**
 * Recorded job logs (commands decided by the real decider, their events appended straight to the store of a
 * real server, no runner) are opened in the UI; what the page shows of each job must be the server's folded
 * state of it, field by field.
 */

/**
 * fetch (one retry, a minute after a failure), draft behind gate `review` (a rejection reruns it), publish
 * behind its own gate (a rejection fails the job). Stages without `run`: reported by a worker, so no stage
 * log is expected.
 */
const pipeline: PipelineDefinition = {
  name: 'recorded',
  stages: [
    { name: 'fetch', retries: 1, retry_delay: 60_000, env: {} },
    {
      name: 'draft',
      retries: 0,
      env: {},
      gate: { name: 'review', timeout: 600_000, on_timeout: 'approve', on_reject: 'rerun' },
    },
    {
      name: 'publish',
      retries: 0,
      env: {},
      gate: { timeout: 600_000, on_timeout: 'wait', on_reject: 'fail' },
    },
  ],
};

type Step = Parameters<JobTraffic['run']>[1];
const create = (id: string): Step => ({
  type: 'create_job',
  job_id: id,
  pipeline,
  params: { topic: id },
  actor: 'alice',
});
const run = (stage: string): Step[] => [
  { type: 'start_stage', stage },
  { type: 'complete_stage', stage, duration_ms: 1000, exit_code: 0 },
];
const toReview = (id: string): Step[] => [
  create(id),
  { type: 'start_job' },
  ...run('fetch'),
  ...run('draft'),
];
const approveReview: Step = { type: 'approve_gate', gate: 'review', comment: 'reads well', actor: 'carol' };

/** Each log ends its job in another place: at a gate after a rerun, running after a resume, failed, done, canceled. */
const LOGS: Record<string, (id: string) => Step[]> = {
  'rerun-paused': (id) => [
    create(id),
    { type: 'start_job' },
    { type: 'start_stage', stage: 'fetch' },
    { type: 'fail_stage', stage: 'fetch', reason: 'timeout talking to the source' },
    ...run('fetch'),
    ...run('draft'),
    { type: 'reject_gate', gate: 'review', comment: 'too long', reason: 'cut it down', actor: 'bob' },
    ...run('draft'),
  ],
  'resumed-running': (id) => [
    ...toReview(id),
    approveReview,
    { type: 'start_stage', stage: 'publish' },
    { type: 'fail_stage', stage: 'publish', reason: 'exit code 2' },
    { type: 'resume_job', reason: 'disk freed', actor: 'alice' },
    { type: 'start_stage', stage: 'publish' },
  ],
  'gate-rejected': (id) => [
    ...toReview(id),
    approveReview,
    ...run('publish'),
    { type: 'reject_gate', gate: 'publish', comment: 'not today', actor: 'dave' },
  ],
  'auto-approved-done': (id) => [
    ...toReview(id),
    { type: 'auto_approve_gate', gate: 'review', actor: 'timer' },
    ...run('publish'),
    { type: 'approve_gate', gate: 'publish', actor: 'erin' },
  ],
  canceled: (id) => [
    create(id),
    { type: 'start_job' },
    { type: 'start_stage', stage: 'fetch' },
    { type: 'cancel_job', reason: 'wrong topic', actor: 'alice' },
  ],
};

let server: TestServer;
let chrome: LaunchedChromium;
let browser: BrowserContext;
const jobs = new Map<string, JobEvent[]>();

test.before(async () => {
  server = await startTestServer({}, { runner: false });
  chrome = await launchChromium({ viewport: { width: 1280, height: 900 } });
  browser = chrome.context;
  const traffic = new JobTraffic(server.deps.store);
  for (const [name, log] of Object.entries(LOGS)) {
    const id = `rec-${name}`;
    let last = -1;
    for (const step of log(id)) last = (await traffic.run(id, step)).nextRevision;
    // The page starts from the read model's row: wait until it holds the whole log.
    await waitFor(`the read model to hold ${id}`, async () => {
      const res = await server.api(`/jobs/${id}`);
      return res.ok && (await json<{ seq: number }>(res)).seq === last;
    });
    jobs.set(id, await jobEvents(server, id));
  }
});

test.after.always(async () => {
  await chrome?.close();
  await server?.stop();
});

/** Uncaught errors and console errors: a catalogue name the UI reads that no longer exists throws here. */
const problems: string[] = [];
test.afterEach('no page error', (t) => {
  t.deepEqual(problems.splice(0), []);
});

async function newPage(hash: string): Promise<Page> {
  const page = await browser.newPage();
  recordPageProblems(page, problems);
  return signIn(page, server.url, TOKENS.viewer, hash);
}

async function serverState(id: string): Promise<JobState> {
  const res = await server.api(`/jobs/${id}/state`, { as: 'viewer' });
  if (!res.ok) throw new Error(`GET /jobs/${id}/state: ${res.status}`);
  return json<JobState>(res);
}

interface ShownJob {
  status: string | null;
  seq: number;
  current_stage: string | null;
  stages: {
    name: string;
    status: string | null;
    attempts: number;
    shown: string | null;
    retry_at: string | null;
    retry_text: string | null;
  }[];
  gates: { name: string; stage: string; status: string | null; decided_by: string | null }[];
  gantt_rows: string[];
}

/** What the page shows of the job, read from its DOM. */
function shown(page: Page): Promise<ShownJob> {
  return page.evaluate(() => {
    const meta = document.querySelector('#job-meta');
    const stages = [...document.querySelectorAll('#timeline li[data-stage]')];
    return {
      status: meta?.getAttribute('data-status') ?? null,
      seq: Number(meta?.getAttribute('data-seq')),
      current_stage: meta?.getAttribute('data-current-stage') || null,
      stages: stages.map((li) => ({
        name: li.getAttribute('data-stage') ?? '',
        status: li.getAttribute('data-stage-status'),
        attempts: Number(li.getAttribute('data-attempts')),
        shown: li.getAttribute('data-status'),
        retry_at: li.getAttribute('data-retry-at'),
        retry_text: li.querySelector('.stage-retry')?.textContent ?? null,
      })),
      gates: stages.flatMap((li) =>
        [...li.querySelectorAll('.stage-gate[data-gate]')].map((g) => ({
          name: g.getAttribute('data-gate') ?? '',
          stage: li.getAttribute('data-stage') ?? '',
          status: g.getAttribute('data-gate-status'),
          decided_by: g.getAttribute('data-decided-by'),
        })),
      ),
      gantt_rows: [...document.querySelectorAll('#gantt .gantt-row')].map(
        (r) => r.getAttribute('data-row') ?? '',
      ),
    };
  });
}

/** The page against the server's state of the job, field by field. */
function assertShowsState(t: ExecutionContext, page: ShownJob, state: JobState): void {
  t.is(page.status, state.status, 'status');
  t.is(page.seq, state.seq, 'seq');
  t.is(page.current_stage, state.current_stage, 'current stage');
  t.deepEqual(
    page.stages.map((s) => s.name),
    state.stages.map((s) => s.name),
    'stages',
  );
  for (const [i, stage] of state.stages.entries()) {
    t.is(page.stages[i]?.status, stage.status, `${stage.name} status`);
    t.is(page.stages[i]?.attempts, stage.attempts, `${stage.name} attempts`);
    t.is(page.stages[i]?.retry_at, stage.retry_at ?? null, `${stage.name} retry time`);
    t.is(page.stages[i]?.retry_text?.startsWith('next attempt at '), stage.retry_at ? true : undefined);
  }
  const gates = Object.values(state.gates);
  t.deepEqual(page.gates.map((g) => g.name).sort(), gates.map((g) => g.name).sort(), 'gates');
  for (const gate of gates) {
    const drawn = page.gates.find((g) => g.name === gate.name);
    t.is(drawn?.stage, gate.stage, `gate ${gate.name} stage`);
    t.is(drawn?.status, gate.status, `gate ${gate.name} status`);
    t.is(drawn?.decided_by, gate.decided_by, `gate ${gate.name} decided by`);
    const stage = page.stages.find((s) => s.name === gate.stage);
    if (gate.status === 'paused') t.is(stage?.shown, 'gated', `${gate.stage} shown as gated`);
  }
  t.deepEqual(
    page.gantt_rows.filter((r) => r !== 'queue'),
    state.stages.map((s) => s.name),
    'gantt rows',
  );
}

test('the recorded logs cover every event type, and the state route returns their fold', async (t) => {
  const types = new Set([...jobs.values()].flat().map((e) => e.type));
  t.deepEqual([...types].sort(), [...EVENT_TYPES].sort());
  for (const [id, events] of jobs) {
    const folded = events.reduce(evolve, initialState());
    t.deepEqual(await serverState(id), JSON.parse(JSON.stringify(folded)), id);
  }
  t.is((await server.api('/jobs/rec-nope/state', { as: 'viewer' })).status, 404);
  t.is((await server.api('/jobs/rec-canceled/state', { as: null })).status, 401);
});

for (const name of Object.keys(LOGS)) {
  test(`job page of the recorded log "${name}" shows the server's state of the job`, async (t) => {
    const id = `rec-${name}`;
    const state = await serverState(id);
    const page = await newPage(`#/jobs/${id}`);
    await page.waitForSelector(`#job-meta[data-seq="${state.seq}"]`);
    await page.waitForSelector('#gantt');
    assertShowsState(t, await shown(page), state);
    await page.close();
  });
}

test('a job followed live: after each command the page shows the new server state', async (t) => {
  const id = 'rec-live';
  const traffic = new JobTraffic(server.deps.store, '2026-11-25T10:00:00.000Z');
  const steps = LOGS['rerun-paused']?.(id) ?? [];
  await traffic.run(id, steps[0] as Step);
  await waitFor('the read model row', async () => (await server.api(`/jobs/${id}`)).ok);
  const page = await newPage(`#/jobs/${id}`);
  await page.waitForSelector('#conn[data-state="live"]');
  for (const step of steps.slice(1)) {
    await traffic.run(id, step);
    const state = await serverState(id);
    await page.waitForSelector(`#job-meta[data-seq="${state.seq}"]`);
    assertShowsState(t, await shown(page), state);
  }
  await page.close();
});

test("the served catalogue module is the domain's: event types and each type's payload fields", async (t) => {
  const page = await newPage('');
  // Imported as the page's own modules import it.
  const served = await page.evaluate(async (path) => {
    const m = await import(path);
    return { types: m.EVENT_TYPES, fields: m.EVENT_FIELDS } as {
      types: string[];
      fields: Record<string, { name: string; optional: boolean }[]>;
    };
  }, '/ui/catalogue.js');
  t.deepEqual(served.types, [...EVENT_TYPES]);
  for (const type of EVENT_TYPES) {
    const shape = eventPayloadSchemas[type].shape as Record<string, z.ZodType>;
    t.deepEqual(
      served.fields[type]?.map((f) => [f.name, f.optional]),
      Object.entries(shape).map(([name, schema]) => [name, schema.isOptional()]),
      type,
    );
  }
  const res = await fetch(`${server.url}/ui/catalogue.js`);
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /^text\/javascript/);
  t.is(res.headers.get('cache-control'), 'no-cache');
  const etag = res.headers.get('etag') ?? '';
  // fetch sends `Cache-Control: no-cache` with a conditional request unless told otherwise.
  t.is(
    (
      await fetch(`${server.url}/ui/catalogue.js`, {
        headers: { 'if-none-match': etag, 'cache-control': 'max-age=0' },
      })
    ).status,
    304,
  );
  await page.close();
});
