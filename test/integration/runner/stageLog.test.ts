import test from 'ava';
import { createJob, ended, waitFor, waitForEvents } from '../../helpers/runnerHarness.ts';
import { openRawSse } from '../../helpers/sseClient.ts';
import type { TestServer } from '../../helpers/testServer.ts';
import { json, startTestServer, TOKENS } from '../../helpers/testServer.ts';

let server: TestServer;

test.before(async () => {
  server = await startTestServer(
    {
      pipeline: { default: 'talk' },
      pipelines: {
        talk: {
          stages: [
            {
              name: 'speak',
              run: 'for i in 1 2 3 4; do echo "line $i"; sleep 0.2; done; printf "no newline"',
            },
            { name: 'later', run: 'echo later' },
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

const logUrl = (jobId: string, stage: string, query = '') =>
  `${server.url}/api/v1/jobs/${jobId}/stages/${stage}/log${query}`;
const auth = { authorization: `Bearer ${TOKENS.viewer}` };
const lines = (messages: { event?: string; data: string }[]) =>
  messages.filter((m) => m.event === undefined).map((m) => m.data.replace(/^\S+ /, ''));

test('follow=1 streams the lines of a running stage as they come, then ends with the stage', async (t) => {
  const jobId = await createJob(server, 'talk');
  await waitFor('the log to exist', async () => (await server.api(`/jobs/${jobId}/stages/speak/log`)).ok);
  const sse = await openRawSse(logUrl(jobId, 'speak', '?follow=1'), auth);
  t.is(sse.status, 200);
  t.regex(sse.headers.get('content-type') ?? '', /^text\/event-stream/);
  await sse.until((m) => lines(m).includes('stdout line 1'));
  t.false(lines(sse.messages).includes('stdout line 4'), 'line 1 arrived while the stage still ran');
  t.false(sse.messages.some((m) => m.event === 'end'));
  await sse.until((m) => m.some((x) => x.event === 'end'), 10_000);
  const received = lines(sse.messages);
  t.deepEqual(
    received.filter((l) => l.startsWith('stdout')),
    ['stdout line 1', 'stdout line 2', 'stdout line 3', 'stdout line 4', 'stdout no newline'],
  );
  t.true(received[0]?.startsWith('runner attempt 1 of stage speak'));
  t.regex(received.at(-1) ?? '', /^runner exit code 0 after/);
  // Each id is the byte offset after its line; the end frame carries the final offset (the file size).
  const ids = sse.messages.filter((m) => m.event === undefined).map((m) => Number(m.id));
  t.deepEqual(
    ids,
    [...ids].sort((a, b) => a - b),
  );
  const whole = await (await server.api(`/jobs/${jobId}/stages/speak/log`)).text();
  t.is(ids.at(-1), Buffer.byteLength(whole));
  const endFrame = sse.messages.find((m) => m.event === 'end');
  t.is((JSON.parse(endFrame?.data ?? '{}') as { offset: number }).offset, Buffer.byteLength(whole));
  await sse.closed;
});

test('the plain log is the whole file as text; Last-Event-ID resumes a follow after that byte', async (t) => {
  const jobId = await createJob(server, 'talk');
  await waitForEvents(server, jobId, 'the job to end', ended);
  const res = await server.api(`/jobs/${jobId}/stages/speak/log`, { as: 'viewer' });
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await res.text();
  const all = text.split('\n').filter(Boolean);
  t.true(all.every((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (stdout|stderr|runner) /.test(l)));
  t.true(all.some((l) => l.endsWith(' stdout line 3')));

  const afterLine2 = text.indexOf('stdout line 2\n') + 'stdout line 2\n'.length;
  const sse = await openRawSse(logUrl(jobId, 'speak', '?follow=1'), {
    ...auth,
    'last-event-id': String(afterLine2),
  });
  await sse.closed;
  const received = lines(sse.messages);
  t.deepEqual(received.slice(0, 2), ['stdout line 3', 'stdout line 4']);
  t.true(sse.messages.some((m) => m.event === 'end'));
  // The query token is for EventSource, so for follow=1 only; the plain log takes the header.
  t.is(
    (await server.api(`/jobs/${jobId}/stages/later/log?access_token=${TOKENS.viewer}`, { as: null })).status,
    401,
  );
  t.is((await server.api(`/jobs/${jobId}/stages/later/log`, { as: 'viewer' })).status, 200);
});

test('unknown job, unknown stage or a stage without a log: 404; a bad id: 400', async (t) => {
  const jobId = await createJob(server, 'talk');
  await waitForEvents(server, jobId, 'the job to end', ended);
  const status = async (path: string) => (await server.api(path)).status;
  t.is(await status('/jobs/nope/stages/speak/log'), 404);
  t.is(await status(`/jobs/${jobId}/stages/nope/log`), 404);
  t.is(await status(`/jobs/${jobId}/stages/..%2F..%2Fetc/log`), 400);
  const other = await createJob(server, 'talk');
  await server.api(`/jobs/${other}/cancel`, { method: 'POST', json: {} });
  const body = await json<{ error: { code: string } }>(await server.api(`/jobs/${other}/stages/later/log`));
  t.is(body.error.code, 'not_found');
  t.is(
    (await server.api(`/jobs/${jobId}/stages/speak/log?follow=1`, { headers: { 'last-event-id': 'x' } }))
      .status,
    400,
  );
});
