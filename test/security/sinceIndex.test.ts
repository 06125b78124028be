import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { JobCommand } from '../../src/domain/commands.ts';
import type { NewJobEvent } from '../../src/domain/events.ts';
import { decide, evolve, initialState } from '../../src/domain/jobDecider.ts';
import { pipelineDefinition } from '../../src/infra/config/loadConfig.ts';
import { jobStreamName } from '../../src/infra/eventstore/eventStore.ts';
import { toEventData } from '../../src/infra/eventstore/jobEvents.ts';
import { openRawSse } from '../helpers/sseClient.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { json, startTestServer, TOKENS } from '../helpers/testServer.ts';

/**
 * Door: `since` without a scan. Polling and both streams find the first event at or after a time through the
 * read model's time indexes, so a far-future `since` (which a scan would answer only after reading the whole
 * log) costs what a recent one costs. The timing is printed, not asserted; the answers are asserted.
 */

// 20,000 events in all: the answers do not depend on the size; a scan would still show in the printed
// timings (it reads the whole log for a far-future since, 20k events against the index's one seek).
const JOBS = 200;
const PER_JOB = 100;
const START = Date.parse('2026-01-01T00:00:00.000Z');
const FAR_FUTURE = '9999-01-01T00:00:00Z';

let server: TestServer;
let head: string;

/** One job's events, decided for real (created, started, then start/fail pairs of a retried stage). */
function jobEvents(jobId: string, firstMs: number): NewJobEvent[] {
  const pipeline = pipelineDefinition(server.config, 'looping');
  if (!pipeline) throw new Error('no looping pipeline');
  let state = initialState();
  const out: NewJobEvent[] = [];
  let ms = firstMs;
  const run = (command: Record<string, unknown>) => {
    const events = decide(
      { ...command, actor: 'runner', ts: new Date(ms).toISOString() } as JobCommand,
      state,
      {
        maxEventsPerJob: 1000,
      },
    );
    for (const e of events) {
      state = evolve(state, { ...e, id: 'x', job_id: jobId, seq: state.seq + 1, position: '0' });
      out.push(e);
      ms += 1;
    }
  };
  run({ type: 'create_job', job_id: jobId, pipeline, params: {} });
  run({ type: 'start_job' });
  while (out.length < PER_JOB) {
    run({ type: 'start_stage', stage: 'work' });
    run({ type: 'fail_stage', stage: 'work', reason: 'again' });
  }
  return out.slice(0, PER_JOB);
}

test.before(async () => {
  server = await startTestServer();
  // Jobs one after another, so the log's order is time order: the answer for any `since` is known.
  for (let j = 0; j < JOBS; j++) {
    const jobId = `since-${String(j).padStart(4, '0')}`;
    const events = jobEvents(jobId, START + j * PER_JOB);
    await server.deps.store.append(
      jobStreamName(jobId),
      events.map((e) => toEventData(e, randomUUID())),
      { expectedRevision: 'no_stream' },
    );
  }
  head = (await server.deps.store.headPosition()) as string;
  if (!(await server.deps.projections.waitForPosition(head, 280_000)))
    throw new Error('the projections did not catch up');
});
test.after.always(() => server?.stop());

/** Median milliseconds of `run` over `n` rounds. */
async function median(n: number, run: () => Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(n / 2)] as number;
}

/** The `connected` frame of the all-jobs stream opened with `since`. */
async function connectedAfter(since: string): Promise<string> {
  const sse = await openRawSse(`${server.url}/api/v1/events/stream?since=${encodeURIComponent(since)}`, {
    authorization: `Bearer ${TOKENS.viewer}`,
  });
  await sse.until((m) => m.some((x) => x.event === 'connected'));
  sse.abort();
  return (JSON.parse(sse.messages[0]?.data ?? '{}') as { after: string }).after;
}

test('since without a scan: the all-jobs stream starts at the first event at or after since through the time index (20k events); far future answers at the head, as fast as a recent time', async (t) => {
  t.timeout(120_000);
  // The event 10 before the end: its ts is START + JOBS * PER_JOB - 10 ms.
  const recent = new Date(START + JOBS * PER_JOB - 10).toISOString();
  const recentEvents = await json<{ events: { ts: string; position: string }[] }>(
    await server.api(`/events?after=${BigInt(head) - 11n}&limit=20`, { as: 'viewer' }),
  );
  const firstRecent = recentEvents.events.find((e) => e.ts >= recent);
  t.truthy(firstRecent);
  t.is(await connectedAfter(recent), (BigInt(firstRecent?.position ?? '0') - 1n).toString());
  t.is(await connectedAfter(FAR_FUTURE), head, 'far future: at the head, nothing to replay');
  const early = await connectedAfter('2000-01-01T00:00:00Z');
  t.is(early, '-1', 'before every event: from the start');
  const recentMs = await median(15, async () => void (await connectedAfter(recent)));
  const farMs = await median(15, async () => void (await connectedAfter(FAR_FUTURE)));
  t.log(
    `all-jobs stream, ${JOBS * PER_JOB} events: since recent ${recentMs.toFixed(2)} ms, since ${FAR_FUTURE} ${farMs.toFixed(2)} ms, ratio far/recent ${(farMs / recentMs).toFixed(2)}`,
  );
});

test('since without a scan: polling and the per-job stream answer a far-future since at the head (empty), a recent one with its first event', async (t) => {
  t.timeout(120_000);
  const jobId = `since-${String(JOBS - 1).padStart(4, '0')}`;
  const lastJobStart = START + (JOBS - 1) * PER_JOB;
  const recent = new Date(lastJobStart + PER_JOB - 5).toISOString();
  const poll = (since: string) =>
    server.api(`/jobs/${jobId}/events?since=${encodeURIComponent(since)}&limit=10`, { as: 'viewer' });
  const far = await json<{ events: unknown[]; head: number; next_after: number }>(await poll(FAR_FUTURE));
  t.deepEqual(far.events, []);
  t.is(far.head, PER_JOB - 1);
  const near = await json<{ events: { seq: number }[] }>(await poll(recent));
  t.deepEqual(
    near.events.map((e) => e.seq),
    [95, 96, 97, 98, 99],
  );
  const recentMs = await median(15, async () => void (await (await poll(recent)).text()));
  const farMs = await median(15, async () => void (await (await poll(FAR_FUTURE)).text()));
  t.log(
    `per-job polling: since recent ${recentMs.toFixed(2)} ms, since ${FAR_FUTURE} ${farMs.toFixed(2)} ms, ratio ${(farMs / recentMs).toFixed(2)}`,
  );
  const sse = await openRawSse(
    `${server.url}/api/v1/jobs/${jobId}/events/stream?since=${encodeURIComponent(FAR_FUTURE)}`,
    { authorization: `Bearer ${TOKENS.viewer}` },
  );
  await sse.until((m) => m.some((x) => x.event === 'connected'));
  sse.abort();
  t.is((JSON.parse(sse.messages[0]?.data ?? '{}') as { after: number }).after, PER_JOB - 1);
});
