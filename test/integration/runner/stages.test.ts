import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import {
  createJob,
  ended,
  isAlive,
  typesOf,
  waitForEvents,
  waitForPid,
  waitGone,
} from '../../helpers/runnerHarness.ts';
import type { TestServer } from '../../helpers/testServer.ts';
import { startTestServer } from '../../helpers/testServer.ts';

let server: TestServer;

test.before(async () => {
  server = await startTestServer(
    {
      pipeline: { default: 'three', lanes: 4, stage_kill_grace: '300ms' },
      pipelines: {
        three: {
          stages: [
            { name: 'fetch', run: 'echo "fetching for $JOB_ID" && echo data > fetched.txt' },
            {
              name: 'build',
              env: { GREETING: 'hello' },
              run: 'echo "$GREETING $STAGE attempt $STAGE_ATTEMPT in $RUN_DIR with $JOB_PARAMS"; wc -c < fetched.txt',
            },
            { name: 'ship', run: 'sleep 0.2; echo shipped > shipped.txt' },
          ],
        },
        flaky: {
          stages: [{ name: 'try', retries: 1, run: 'echo "attempt $STAGE_ATTEMPT"; echo boom >&2; exit 3' }],
        },
        patient: {
          stages: [{ name: 'try', retries: 2, retry_delay: '400ms', run: 'exit 3' }],
        },
        slow: {
          stages: [
            {
              name: 'hang',
              timeout: '400ms',
              // Ignores SIGTERM, so only the SIGKILL after the grace ends it.
              run: 'trap "" TERM; echo "pid $$"; sleep 30; echo never',
            },
          ],
        },
      },
    },
    { runner: true },
  );
});

test.after.always(async () => {
  await server?.stop();
});

test('a three-stage pipeline runs each command in order to job_completed', async (t) => {
  const jobId = await createJob(server, 'three', { size: 'small' });
  const events = await waitForEvents(server, jobId, 'the job to end', ended);
  t.deepEqual(typesOf(events), [
    'job_created',
    'job_started',
    'stage_started',
    'stage_completed',
    'stage_started',
    'stage_completed',
    'stage_started',
    'stage_completed',
    'job_completed',
  ]);
  t.deepEqual(
    events.filter((e) => e.type === 'stage_started').map((e) => e.stage),
    ['fetch', 'build', 'ship'],
  );
  t.deepEqual(
    events.slice(1).map((e) => e.actor),
    events.slice(1).map(() => 'runner'),
    "every event after the creation is the runner's",
  );
  const completed = events.filter((e) => e.type === 'stage_completed');
  for (const e of completed) {
    t.is(e.payload['exit_code'], 0);
    t.is(typeof e.payload['duration_ms'], 'number');
  }
  const shipMs = completed[2]?.payload['duration_ms'] as number;
  t.true(shipMs >= 200, `ship sleeps 0.2 s: duration_ms ${shipMs}`);

  const runDir = join(server.config.storage.runs_dir, jobId);
  t.is(await readFile(join(runDir, 'work', 'shipped.txt'), 'utf8'), 'shipped\n');
  const buildLog = await (await server.api(`/jobs/${jobId}/stages/build/log`)).text();
  t.regex(
    buildLog,
    new RegExp(`^\\S+Z stdout hello build attempt 1 in ${runDir} with \\{"size":"small"\\}$`, 'm'),
  );
  t.regex(buildLog, /^\S+Z stdout 5$/m);
  t.regex(buildLog, /^\S+Z runner exit code 0 after /m);
});

test('a failing stage is retried, then fails the job with the last log lines in the payload', async (t) => {
  const jobId = await createJob(server, 'flaky');
  const events = await waitForEvents(server, jobId, 'the job to end', ended);
  t.deepEqual(typesOf(events), [
    'job_created',
    'job_started',
    'stage_started',
    'stage_failed',
    'stage_started',
    'stage_failed',
    'job_failed',
  ]);
  const [first, second] = events.filter((e) => e.type === 'stage_failed');
  t.is(first?.payload['will_retry'], true);
  t.is(second?.payload['will_retry'], false);
  t.is(second?.payload['reason'], 'exit code 3');
  t.is(second?.payload['exit_code'], 3);
  const tail = second?.payload['log_tail'] as string[];
  t.true(Array.isArray(tail));
  t.regex(tail.join('\n'), /stdout attempt 2\n\S+ stderr boom$/);
  t.is(events.at(-1)?.payload['reason'], 'exit code 3');
  t.log(events.at(-1)?.message);
});

test('retry_delay: each retry waits for its delay after the failed attempt, twice as long each time', async (t) => {
  const jobId = await createJob(server, 'patient');
  const events = await waitForEvents(server, jobId, 'the job to end', ended);
  t.deepEqual(typesOf(events).slice(2), [
    'stage_started',
    'stage_failed',
    'stage_started',
    'stage_failed',
    'stage_started',
    'stage_failed',
    'job_failed',
  ]);
  const failures = events.filter((e) => e.type === 'stage_failed');
  t.deepEqual(
    failures.map((e) => e.payload['retry_delay_ms']),
    [400, 800, undefined],
    'the wait is in the failure event, none after the last attempt',
  );
  t.regex(failures[0]?.message ?? '', /; it will be retried in 400ms$/);
  const at = (type: string) => events.filter((e) => e.type === type).map((e) => Date.parse(e.ts));
  const [, secondStart, thirdStart] = at('stage_started') as number[];
  const [firstFail, secondFail] = at('stage_failed') as number[];
  t.true(
    (secondStart as number) - (firstFail as number) >= 400,
    `first retry after ${(secondStart as number) - (firstFail as number)} ms`,
  );
  t.true(
    (thirdStart as number) - (secondFail as number) >= 800,
    `second retry after ${(thirdStart as number) - (secondFail as number)} ms`,
  );
});

test('a stage past its timeout is killed (SIGTERM ignored, SIGKILL after the grace) and fails', async (t) => {
  const jobId = await createJob(server, 'slow');
  const pid = await waitForPid(server, jobId, 'hang');
  t.true(isAlive(pid));
  const events = await waitForEvents(server, jobId, 'the job to end', ended);
  const failed = events.find((e) => e.type === 'stage_failed');
  t.is(failed?.payload['reason'], 'timed out after 400ms');
  t.is(failed?.payload['timed_out'], true);
  t.is(failed?.payload['signal'], 'SIGKILL');
  t.true(await waitGone(pid, 3000), `pid ${pid} still alive`);
  const log = await (await server.api(`/jobs/${jobId}/stages/hang/log`)).text();
  t.regex(log, /runner timed out after 400ms: SIGTERM to process group \d+, SIGKILL after 300ms/);
  t.notRegex(log, /stdout never/);
});
