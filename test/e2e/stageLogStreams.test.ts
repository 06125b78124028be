import { appendFile, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { EventSourceMessage } from 'eventsource-parser';
import { readJobStream } from '../../src/infra/eventstore/stageLogStreams.ts';
import { verifyStageLogs } from '../../src/projections/maintenance/verifyStageLogs.ts';
import { createJob, ended, waitFor, waitForEvents } from '../helpers/runnerHarness.ts';
import { openRawSse } from '../helpers/sseClient.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { startTestServer, TOKENS } from '../helpers/testServer.ts';

/**
 * Stage logs live in the store (issue 18), over real HTTP: a follower that drops mid-stage resumes by byte
 * offset without a gap or a duplicate, many followers of one stage each get it whole, the projected file
 * equals what the route serves (and verify says when it does not), and `runner.max_log_bytes` cuts a flood
 * with one marker while the stage runs to its end.
 */
const LINES = 1200;
const CAP = 65_536;

let server: TestServer;

test.before(async () => {
  server = await startTestServer(
    {
      runner: { max_log_bytes: CAP },
      pipeline: { default: 'chatty', lanes: 100 },
      pipelines: {
        chatty: {
          stages: [
            {
              name: 'print',
              run: `i=1; while [ $i -le ${LINES} ]; do echo "line $i"; if [ $((i % 100)) -eq 0 ]; then sleep 0.05; fi; i=$((i+1)); done`,
            },
          ],
        },
        flood: { stages: [{ name: 'flood', run: 'seq 1 40000; echo drained > after.txt' }] },
      },
    },
    { runner: true },
  );
});

test.after.always(async () => {
  await server?.stop();
});

const logUrl = (jobId: string, stage: string) =>
  `${server.url}/api/v1/jobs/${jobId}/stages/${stage}/log?follow=1`;
const auth = { authorization: `Bearer ${TOKENS.viewer}` };
const dataLines = (messages: EventSourceMessage[]) => messages.filter((m) => m.event === undefined);
const outputNumbers = (messages: EventSourceMessage[]) =>
  dataLines(messages)
    .map((m) => / stdout line (\d+)$/.exec(m.data)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
const plainLog = async (jobId: string, stage: string) =>
  (await server.api(`/jobs/${jobId}/stages/${stage}/log`, { as: 'viewer' })).text();
const projectedFile = (jobId: string, stage: string) =>
  join(server.config.storage.runs_dir, jobId, 'logs', `${stage}.log`);

test.serial(
  'follow, drop mid-stage, resume with Last-Event-ID: every line once, in order; ids are byte offsets',
  async (t) => {
    const jobId = await createJob(server, 'chatty');
    await waitFor('the log to exist', async () => (await server.api(`/jobs/${jobId}/stages/print/log`)).ok);
    const first = await openRawSse(logUrl(jobId, 'print'), auth);
    t.is(first.status, 200);
    await first.until((m) => outputNumbers(m).length >= 150);
    first.abort();
    await first.closed;
    const lastId = dataLines(first.messages).at(-1)?.id as string;
    t.regex(lastId, /^\d+$/);

    const second = await openRawSse(logUrl(jobId, 'print'), { ...auth, 'last-event-id': lastId });
    await second.until((m) => m.some((x) => x.event === 'end'), 20_000);
    const numbers = [...outputNumbers(first.messages), ...outputNumbers(second.messages)];
    t.deepEqual(
      numbers,
      Array.from({ length: LINES }, (_, i) => i + 1),
      'no gap, no duplicate across the resume',
    );
    const ids = [...dataLines(first.messages), ...dataLines(second.messages)].map((m) => Number(m.id));
    t.true(
      ids.every((id, i) => i === 0 || id > (ids[i - 1] as number)),
      'ids increase',
    );
    const whole = await plainLog(jobId, 'print');
    t.is(ids.at(-1), Buffer.byteLength(whole), 'the last id is the log’s size');
    const rebuilt = [...dataLines(first.messages), ...dataLines(second.messages)]
      .map((m) => `${m.data}\n`)
      .join('');
    t.is(rebuilt, whole, 'the frames are the log’s lines');
    const endFrame = second.messages.find((m) => m.event === 'end');
    t.is((JSON.parse(endFrame?.data ?? '{}') as { offset: number }).offset, Buffer.byteLength(whole));
    // a resume point that is not an offset: 400 invalid_input, as on the event streams
    for (const bad of ['-5', 'abc', '1.5']) {
      const res = await fetch(logUrl(jobId, 'print'), { headers: { ...auth, 'last-event-id': bad } });
      t.is(res.status, 400, bad);
      const body = (await res.json()) as { error: { code: string; message: string; details: unknown } };
      t.is(body.error.code, 'invalid_input', bad);
      t.regex(body.error.message, /^invalid Last-Event-ID header: a byte offset/);
      t.true(Array.isArray(body.error.details));
    }
  },
);

test.serial(
  'twenty followers of one stage each get the whole log, and the projected file is the same bytes',
  async (t) => {
    const jobId = await createJob(server, 'chatty');
    await waitFor('the log to exist', async () => (await server.api(`/jobs/${jobId}/stages/print/log`)).ok);
    const followers = await Promise.all(
      Array.from({ length: 20 }, () => openRawSse(logUrl(jobId, 'print'), auth)),
    );
    await Promise.all(followers.map((f) => f.until((m) => m.some((x) => x.event === 'end'), 20_000)));
    const whole = await plainLog(jobId, 'print');
    for (const f of followers)
      t.is(
        dataLines(f.messages)
          .map((m) => `${m.data}\n`)
          .join(''),
        whole,
      );
    const file = projectedFile(jobId, 'print');
    await waitFor('the projection', async () => (await readFile(file, 'utf8').catch(() => '')) === whole);
    t.pass();
  },
);

test.serial(
  'verify: clean once projected; bytes added to the file, cut from it or changed in it are reported',
  async (t) => {
    const jobId = await createJob(server, 'chatty');
    await waitForEvents(server, jobId, 'the job to end', ended);
    const whole = await plainLog(jobId, 'print');
    const file = projectedFile(jobId, 'print');
    await waitFor('the projection', async () => (await readFile(file, 'utf8').catch(() => '')) === whole);
    const check = async () =>
      verifyStageLogs(
        server.deps.store,
        server.config.storage.runs_dir,
        jobId,
        await readJobStream(server.deps.store, jobId),
        await server.deps.projections.checkpoint(),
      );
    t.deepEqual(await check(), []);
    await appendFile(file, 'not from the store\n');
    t.like((await check())[0], { projection: 'logs', kind: 'extra', job_id: jobId, file });
    await truncate(file, 100);
    t.like((await check())[0], { projection: 'logs', kind: 'missing', line: 1 });
    await writeFile(file, whole.replace(' line 7\n', ' line 8\n'));
    t.like((await check())[0], { projection: 'logs', kind: 'different', line: 9 });
  },
);

test.serial(
  'runner.max_log_bytes: a flood is cut with one marker, read to its end and dropped; the stage completes',
  async (t) => {
    const jobId = await createJob(server, 'flood');
    const events = await waitForEvents(server, jobId, 'the job to end', ended, 20_000);
    t.is(events.at(-1)?.type, 'job_completed');
    const after = await stat(join(server.config.storage.runs_dir, jobId, 'work', 'after.txt'));
    t.true(after.isFile(), 'the command ran on past the cut (its output was drained)');
    const text = await plainLog(jobId, 'flood');
    const lines = text.split('\n').filter(Boolean);
    const markers = lines.filter((l) => l.endsWith(` runner [output cut at ${CAP} bytes]`));
    t.is(markers.length, 1);
    const markerAt = lines.findIndex((l) => l.endsWith(`[output cut at ${CAP} bytes]`));
    t.true(
      lines.slice(markerAt + 1).every((l) => / runner /.test(l)),
      'after the marker only runner notes',
    );
    t.regex(lines.at(-1) ?? '', / runner exit code 0 after /);
    t.true(Buffer.byteLength(text) <= CAP + 1024, `${Buffer.byteLength(text)} bytes`);
    t.regex(lines[markerAt - 1] ?? '', / stdout \d+$/, 'whole lines up to the cut');
  },
);
