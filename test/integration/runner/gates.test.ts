import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import type { JobEvent } from '../../../src/domain/events.ts';
import {
  createJob,
  ended,
  hasType,
  jobEvents,
  manualClock,
  typesOf,
  waitFor,
  waitForEvents,
} from '../../helpers/runnerHarness.ts';
import type { TestServer } from '../../helpers/testServer.ts';
import { json, startTestServer } from '../../helpers/testServer.ts';

const gated = (gate: Record<string, unknown>) => ({
  stages: [
    { name: 'draft', run: 'echo drafting', gate },
    { name: 'final', run: 'echo finishing' },
  ],
});

let server: TestServer;

test.before(async () => {
  server = await startTestServer(
    {
      pipeline: { default: 'review', lanes: 8 },
      pipelines: {
        review: gated({}),
        approve: gated({ timeout: '300ms', on_timeout: 'approve' }),
        reject: gated({ timeout: '300ms', on_timeout: 'reject' }),
        wait: gated({ timeout: '300ms', on_timeout: 'wait' }),
      },
    },
    { runner: true },
  );
});

test.after.always(async () => {
  await server?.stop();
});

const paused = hasType('gate_pause');

test('a gate pauses the job after its stage; approved over HTTP, the job continues to the end', async (t) => {
  const jobId = await createJob(server, 'review');
  await waitForEvents(server, jobId, 'the gate pause', paused);
  await sleep(200);
  t.is((await jobEvents(server, jobId)).at(-1)?.type, 'gate_pause', 'nothing runs while paused');
  const job = await json<{ status: string; paused_gate: string; lane: number | null }>(
    await server.api(`/jobs/${jobId}`),
  );
  t.like(job, { status: 'paused', paused_gate: 'draft', lane: 1 });

  const res = await server.api(`/jobs/${jobId}/gates/draft/approve`, {
    method: 'POST',
    as: 'operator',
    json: { comment: 'looks good' },
  });
  t.is(res.status, 200);
  const events = await waitForEvents(server, jobId, 'the job to end', ended);
  t.deepEqual(typesOf(events).slice(3), [
    'stage_completed',
    'gate_pause',
    'gate_approved',
    'job_resumed',
    'stage_started',
    'stage_completed',
    'job_completed',
  ]);
  const approved = events.find((e) => e.type === 'gate_approved');
  t.like(approved, { actor: 'alice', payload: { gate: 'draft', comment: 'looks good', by_timer: false } });
  t.is(events.find((e) => e.type === 'job_resumed')?.actor, 'alice');
  t.is(events.filter((e) => e.type === 'stage_started').at(-1)?.actor, 'runner');
});

test('on_timeout approve: the timer auto-approves at the deadline and the job completes', async (t) => {
  const jobId = await createJob(server, 'approve');
  const events = await waitForEvents(server, jobId, 'the job to end', ended);
  t.deepEqual(typesOf(events).slice(4), [
    'gate_pause',
    'gate_auto_approved',
    'job_resumed',
    'stage_started',
    'stage_completed',
    'job_completed',
  ]);
  const pause = events.find((e) => e.type === 'gate_pause') as JobEvent;
  const auto = events.find((e) => e.type === 'gate_auto_approved') as JobEvent;
  t.is(auto.actor, 'timer');
  t.true(Date.parse(auto.ts) >= Date.parse(pause.payload['deadline'] as string));
  t.is(events.filter((e) => e.type === 'gate_auto_approved').length, 1);
});

test('on_timeout reject: the timer rejects with reason timeout and the job fails', async (t) => {
  const jobId = await createJob(server, 'reject');
  const events = await waitForEvents(server, jobId, 'the job to end', ended);
  t.deepEqual(typesOf(events).slice(4), ['gate_pause', 'gate_rejected', 'job_failed']);
  const rejected = events.find((e) => e.type === 'gate_rejected');
  t.like(rejected, { actor: 'timer', payload: { gate: 'draft', reason: 'timeout', by_timer: true } });
  t.like(events.at(-1), { actor: 'timer', payload: { code: 'gate_rejected', reason: 'timeout' } });
});

test('on_timeout wait: the deadline passes and nothing happens until someone decides', async (t) => {
  const jobId = await createJob(server, 'wait');
  const events = await waitForEvents(server, jobId, 'the gate pause', paused);
  const deadline = Date.parse(events.at(-1)?.payload['deadline'] as string);
  await sleep(Math.max(0, deadline - Date.now()) + 500);
  t.is((await jobEvents(server, jobId)).at(-1)?.type, 'gate_pause');
  await server.api(`/jobs/${jobId}/gates/draft/approve`, { method: 'POST', json: {} });
  const done = await waitForEvents(server, jobId, 'the job to end', ended);
  t.is(done.at(-1)?.type, 'job_completed');
  t.false(done.some((e) => e.actor === 'timer'));
});

test('two concurrent approvals of one gate: exactly one wins, the other gets 409', async (t) => {
  const jobId = await createJob(server, 'review');
  await waitForEvents(server, jobId, 'the gate pause', paused);
  const decide = (as: 'admin' | 'operator') =>
    server.api(`/jobs/${jobId}/gates/draft/approve`, { method: 'POST', as, json: { comment: as } });
  const responses = await Promise.all([decide('admin'), decide('operator')]);
  t.deepEqual(responses.map((r) => r.status).sort(), [200, 409]);
  const loser = responses.find((r) => r.status === 409) as Response;
  t.is((await json<{ error: { code: string } }>(loser)).error.code, 'gate_already_decided');
  const events = await waitForEvents(server, jobId, 'the job to end', ended);
  t.is(events.filter((e) => e.type === 'gate_approved').length, 1);
  t.is(events.filter((e) => e.type === 'job_resumed').length, 1);
  t.is(events.filter((e) => e.type === 'stage_started' && e.stage === 'final').length, 1);
});

test('with an injected clock, a ten-minute gate timeout fires as soon as the clock passes it', async (t) => {
  const clock = manualClock();
  const timed = await startTestServer(
    {
      pipeline: { default: 'long' },
      pipelines: { long: gated({ timeout: '10m', on_timeout: 'approve' }) },
    },
    { runner: true, clock },
  );
  t.teardown(() => timed.stop());
  const jobId = await createJob(timed, 'long');
  const events = await waitForEvents(timed, jobId, 'the gate pause', paused);
  t.is(events.at(-1)?.payload['deadline'], '2026-11-24T10:10:00.000Z');
  await waitFor('the gate timer', () => clock.pending === 1);
  clock.advance(9 * 60_000);
  await sleep(200);
  t.is((await jobEvents(timed, jobId)).at(-1)?.type, 'gate_pause');
  clock.advance(60_000);
  const done = await waitForEvents(timed, jobId, 'the job to end', ended);
  t.like(
    done.find((e) => e.type === 'gate_auto_approved'),
    { actor: 'timer', ts: '2026-11-24T10:10:00.000Z' },
  );
  t.is(done.at(-1)?.type, 'job_completed');
});
