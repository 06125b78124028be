import test from 'ava';
import type { JobEvent } from '../../src/domain/events.ts';
import { QUEUE_FRONT_STREAM } from '../../src/runner/queueFront.ts';
import { createJob, jobEvents, waitFor } from '../helpers/runnerHarness.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { json, startTestServer } from '../helpers/testServer.ts';

/** Lanes hold: start and resume never run a job beyond pipeline.lanes, except by an admin's explicit force. */

const PIPELINES = {
  slow: { stages: [{ name: 'work', run: 'sleep 30' }] },
  broken: { stages: [{ name: 'check', run: 'exit 3' }] },
  external: { stages: [{ name: 'ingest' }] },
};

interface Answer {
  job: { job_id: string; status: string; queue_position?: number | null };
  events: JobEvent[];
}

const statusOf = async (server: TestServer, id: string) =>
  (await json<{ status: string }>(await server.api(`/jobs/${id}`))).status;

test('with the runner: start without a free lane puts the job at the front of the queue (202); force runs it beyond the lanes (admin only, recorded); resume needs a free lane or force', async (t) => {
  t.timeout(60_000);
  const server = await startTestServer(
    { pipeline: { default: 'slow', lanes: 1 }, pipelines: PIPELINES },
    { runner: true },
  );
  t.teardown(() => server.stop());
  const failed = await createJob(server, 'broken');
  await waitFor('the broken job to fail', async () => (await statusOf(server, failed)) === 'failed');
  const a = await createJob(server, 'slow');
  await waitFor('A to run', async () => (await statusOf(server, a)) === 'running');
  const b = await createJob(server, 'slow');
  const c = await createJob(server, 'slow');
  const started = await server.api(`/jobs/${c}/start`, { method: 'POST', json: {}, as: 'operator' });
  t.is(started.status, 202, 'no free lane: queued, not started');
  const queued = await json<Answer>(started);
  t.is(queued.job.status, 'queued');
  t.is(queued.job.queue_position, 1, 'C is now first in the queue, ahead of B created before it');
  t.is((await json<Answer['job']>(await server.api(`/jobs/${b}`))).queue_position, 2);
  // Resume follows the same rule.
  const resume = await server.api(`/jobs/${failed}/resume`, { method: 'POST', json: {}, as: 'operator' });
  t.is(resume.status, 409);
  t.like(await json(resume), { error: { code: 'no_free_lane', details: { limit: 1, occupied: 1 } } });
  t.is(
    (await server.api(`/jobs/${failed}/resume`, { method: 'POST', json: { force: true }, as: 'operator' }))
      .status,
    403,
  );
  const forcedResume = await json<Answer>(
    await server.api(`/jobs/${failed}/resume`, { method: 'POST', json: { force: true, reason: 'hotfix' } }),
  );
  t.like(forcedResume.events[0], {
    type: 'job_resumed',
    actor: 'root',
    payload: { forced: true, lanes: { limit: 1 } },
  });
  // Force: an admin only, recorded in the actor and the payload.
  t.is(
    (await server.api(`/jobs/${b}/start`, { method: 'POST', json: { force: true }, as: 'operator' })).status,
    403,
  );
  const forced = await server.api(`/jobs/${b}/start`, { method: 'POST', json: { force: true }, as: 'admin' });
  t.is(forced.status, 200);
  const forcedEvent = (await json<Answer>(forced)).events[0];
  t.like(forcedEvent, { type: 'job_started', actor: 'root', payload: { forced: true, lanes: { limit: 1 } } });
  // A holds the lane (and the resumed job may still run its stage).
  t.true(((forcedEvent?.payload['lanes'] as { occupied: number } | undefined)?.occupied ?? 0) >= 1);
  // C waits for a lane: it starts first once A and B are gone, by the runner, for the one who asked.
  t.is(await statusOf(server, c), 'queued');
  await server.api(`/jobs/${a}/cancel`, { method: 'POST', json: {} });
  await server.api(`/jobs/${b}/cancel`, { method: 'POST', json: {} });
  await waitFor('C to start', async () => (await statusOf(server, c)) === 'running', 15_000);
  const cStarted = (await jobEvents(server, c)).find((e) => e.type === 'job_started');
  t.like(cStarted, { actor: 'runner', payload: { requested_by: 'alice' } });
  await server.api(`/jobs/${c}/cancel`, { method: 'POST', json: {} });
});

test('with the runner: start honours If-Match like every command: 400 when malformed, 409 stale_seq when the job moved on (not put first), 202 when current', async (t) => {
  t.timeout(60_000);
  const server = await startTestServer(
    { pipeline: { default: 'external', lanes: 1 }, pipelines: PIPELINES },
    { runner: true },
  );
  t.teardown(() => server.stop());
  const a = await createJob(server, 'external');
  await waitFor('A to run', async () => (await statusOf(server, a)) === 'running');
  const b = await createJob(server, 'external');
  const c = await createJob(server, 'external');
  const start = (id: string, ifMatch: string) =>
    server.api(`/jobs/${id}/start`, { method: 'POST', json: {}, headers: { 'if-match': ifMatch } });
  const malformed = await start(c, 'yesterday');
  t.is(malformed.status, 400);
  t.like(await json(malformed), { error: { code: 'bad_request' } });
  const stale = await start(c, '"7"');
  t.is(stale.status, 409);
  t.like(await json(stale), { error: { code: 'stale_seq', details: { expected: 7, actual: 0 } } });
  t.is((await json<Answer['job']>(await server.api(`/jobs/${c}`))).queue_position, 2, 'C was not put first');
  const current = await start(c, '"0"');
  t.is(current.status, 202);
  t.is((await json<Answer>(current)).job.queue_position, 1);
  t.is((await json<Answer['job']>(await server.api(`/jobs/${b}`))).queue_position, 2);
  await server.api(`/jobs/${a}/cancel`, { method: 'POST', json: {} });
  await waitFor('C to start', async () => (await statusOf(server, c)) === 'running', 15_000);
  await server.api(`/jobs/${c}/cancel`, { method: 'POST', json: {} });
});

test('without a runner in the process: lanes are counted from the read model; a start past them is recorded at the queue front in the store (202)', async (t) => {
  const server = await startTestServer({ pipeline: { default: 'external', lanes: 1 }, pipelines: PIPELINES });
  t.teardown(() => server.stop());
  const post = (path: string, body: unknown = {}, as: 'admin' | 'operator' = 'operator') =>
    server.api(path, { method: 'POST', json: body, as });
  const x = (await json<Answer>(await post('/jobs', { pipeline: 'external' }))).job.job_id;
  const y = (await json<Answer>(await post('/jobs', { pipeline: 'external' }))).job.job_id;
  t.is((await post(`/jobs/${x}/start`)).status, 200, 'a free lane: started at once');
  const stale = await server.api(`/jobs/${y}/start`, {
    method: 'POST',
    json: {},
    headers: { 'if-match': '3' },
  });
  t.is(stale.status, 409, 'If-Match is checked before the queue front is recorded');
  t.like(await json(stale), { error: { code: 'stale_seq' } });
  const second = await post(`/jobs/${y}/start`);
  t.is(second.status, 202);
  t.is((await json<Answer>(second)).job.status, 'queued');
  const requests = [];
  for await (const recorded of server.deps.store.readStream(QUEUE_FRONT_STREAM)) requests.push(recorded.data);
  t.like(requests.at(-1), { job_id: y, requested_by: 'alice' });
  t.is((await post(`/jobs/${x}/start`)).status, 409, 'a started job: the decider says so');
  t.is((await post('/jobs/no-such-job/resume')).status, 404, 'the lane is taken, but an unknown job is 404');
  t.like(await json(await post(`/jobs/${x}/resume`)), { error: { code: 'not_failed' } });
  const forced = await post(`/jobs/${y}/start`, { force: true }, 'admin');
  t.is(forced.status, 200);
  t.like((await json<Answer>(forced)).events[0], {
    payload: { forced: true, lanes: { limit: 1, occupied: 1 } },
  });
});

test('with the runner: two failed jobs resumed at once into one free lane: one resumes, the other gets no_free_lane; an unknown or running job gets its own answer, not the lanes', async (t) => {
  t.timeout(60_000);
  const server = await startTestServer(
    { pipeline: { default: 'external', lanes: 1 }, pipelines: PIPELINES },
    { runner: true },
  );
  t.teardown(() => server.stop());
  const post = (path: string, body: unknown = {}) =>
    server.api(path, { method: 'POST', json: body, as: 'operator' });
  const failedJob = async () => {
    const id = await createJob(server, 'external');
    await waitFor(`${id} to run`, async () => (await statusOf(server, id)) === 'running');
    t.is((await post(`/jobs/${id}/stages/ingest/start`)).status, 200);
    t.is((await post(`/jobs/${id}/stages/ingest/fail`, { reason: 'boom', retryable: false })).status, 200);
    await waitFor(`${id} to fail`, async () => (await statusOf(server, id)) === 'failed');
    return id;
  };
  // The external stage waits for a worker after a resume, so a resumed job holds its lane.
  for (let round = 0; round < 3; round++) {
    const [x, y] = [await failedJob(), await failedJob()];
    const answers = await Promise.all([post(`/jobs/${x}/resume`), post(`/jobs/${y}/resume`)]);
    t.deepEqual(answers.map((r) => r.status).sort(), [200, 409], `round ${round}`);
    const refused = answers.find((r) => r.status === 409) as Response;
    t.like(await json(refused), { error: { code: 'no_free_lane', details: { limit: 1, occupied: 1 } } });
    const running = answers[0]?.status === 200 ? x : y;
    t.is(await statusOf(server, running), 'running');
    t.is(await statusOf(server, running === x ? y : x), 'failed');
    // The lane is taken: an unknown job is 404, a running one 409 not_failed, both the decider's answers.
    const unknown = await post('/jobs/no-such-job/resume');
    t.is(unknown.status, 404);
    const notFailed = await post(`/jobs/${running}/resume`);
    t.is(notFailed.status, 409);
    t.like(await json(notFailed), { error: { code: 'not_failed' } });
    await post(`/jobs/${running}/cancel`);
    await waitFor('the lane to free', async () => (await statusOf(server, running)) === 'canceled');
  }
});
