import test from 'ava';
import {
  createJob,
  ended,
  hasType,
  isAlive,
  jobEvents,
  waitFor,
  waitForEvents,
  waitForPid,
  waitGone,
} from '../../helpers/runnerHarness.ts';
import type { TestServer } from '../../helpers/testServer.ts';
import { json, startTestServer } from '../../helpers/testServer.ts';

let server: TestServer;

test.before(async () => {
  server = await startTestServer(
    {
      pipeline: { default: 'long', lanes: 1, stage_kill_grace: '2s' },
      pipelines: {
        // The shell and a child of it: the whole process group must go.
        long: { stages: [{ name: 'work', run: 'echo "pid $$"; sleep 30 & echo "pid $!"; wait' }] },
        quick: { stages: [{ name: 'only', run: 'echo done' }] },
      },
    },
    { runner: true },
  );
});

test.after.always(async () => {
  await server?.stop();
});

test('cancel during a running stage kills its whole process group and frees the lane', async (t) => {
  const jobId = await createJob(server, 'long');
  const shell = await waitForPid(server, jobId, 'work', 1);
  const sleeper = await waitForPid(server, jobId, 'work', 2);
  t.true(isAlive(shell) && isAlive(sleeper));

  const waiting = await createJob(server, 'quick');
  const queued = await json<{ status: string; queue_position: number | null }>(
    await server.api(`/jobs/${waiting}`),
  );
  t.like(queued, { status: 'queued', queue_position: 1 });

  const res = await server.api(`/jobs/${jobId}/cancel`, {
    method: 'POST',
    as: 'operator',
    json: { reason: 'wrong input' },
  });
  t.is(res.status, 200);
  t.true(await waitGone(shell, 3000), `shell ${shell} still alive`);
  t.true(await waitGone(sleeper, 3000), `sleep ${sleeper} still alive`);
  // Reaped as well, not left a zombie: `waitGone` counts a zombie as gone, and on a busy machine the reaping
  // may come a little after the exit.
  await waitFor(
    `shell ${shell} to be reaped`,
    () => {
      try {
        process.kill(shell, 0);
        return false;
      } catch {
        return true;
      }
    },
    3000,
    25,
  );

  const events = await jobEvents(server, jobId);
  t.like(events.at(-1), { type: 'job_canceled', actor: 'alice', payload: { reason: 'wrong input' } });
  t.false(events.some((e) => e.type === 'stage_failed' || e.type === 'stage_completed'));
  // The attempt's last log lines are stored once its whole group is gone, a moment after the event.
  const log = await waitFor('the cancel in the stage log', async () => {
    const text = await (await server.api(`/jobs/${jobId}/stages/work/log`)).text();
    return /runner job canceled: SIGTERM to process group \d+/.test(text) ? text : undefined;
  });
  t.regex(log, /runner job canceled: SIGTERM to process group \d+/);

  const next = await waitForEvents(server, waiting, 'the queued job to run', ended);
  t.is(next.at(-1)?.type, 'job_completed');
});

test('cancel of a queued job takes effect at once and the job never starts', async (t) => {
  const first = await createJob(server, 'long');
  await waitForPid(server, first, 'work');
  const second = await createJob(server, 'quick');
  const res = await server.api(`/jobs/${second}/cancel`, { method: 'POST', json: {} });
  t.is(res.status, 200);
  await server.api(`/jobs/${first}/cancel`, { method: 'POST', json: {} });
  await waitForEvents(server, first, 'the first job to end', ended);
  const events = await jobEvents(server, second);
  t.deepEqual(
    events.map((e) => e.type),
    ['job_created', 'job_canceled'],
  );
  t.false(hasType('job_started')(events));
});
