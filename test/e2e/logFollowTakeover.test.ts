import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { EventSourceMessage } from 'eventsource-parser';
import type { JobEvent } from '../../src/domain/events.ts';
import type { EsdbDouble } from '../helpers/esdbDouble/esdbDouble.ts';
import { startEsdbDouble } from '../helpers/esdbDouble/esdbDouble.ts';
import { waitFor } from '../helpers/runnerHarness.ts';
import {
  esdbStoreLine,
  oneLeader,
  type ServeChild,
  serveChild,
  writeServeConfig,
} from '../helpers/serveChild.ts';
import { openRawSse } from '../helpers/sseClient.ts';

/**
 * Issue 18, logs half: two `operator serve` processes on one EventStoreDB (the gRPC double). A stage prints
 * steadily on the leader; a client follows its log through the *standby*; the leader is killed with
 * `kill -9` mid-stage. The standby takes the lease over, marks the interrupted attempt in its log and
 * retries it: the follower sees the interrupted attempt's lines, the restart marker, then the retry's
 * lines, in order, without a gap or a duplicate, in one stream that never broke.
 */
const TOKEN = 'default-admin-token-change-me';
const TTL_MS = 2000;
const RETRY_LINES = 40;

type Operator = ServeChild;

async function serve(dir: string, double: EsdbDouble, script: string, name: string): Promise<Operator> {
  const configPath = await writeServeConfig(join(dir, name), [
    esdbStoreLine(double.connectionString, TTL_MS),
    'pipeline: {default: talk, lanes: 1, stage_kill_grace: 500ms}',
    'webhooks: {enabled: false}',
    'pipelines:',
    '  talk:',
    '    stages:',
    `      - {name: work, retries: 1, run: 'exec /bin/sh ${script}'}`,
  ]);
  return serveChild(configPath, { name });
}

const dataLines = (messages: EventSourceMessage[]) => messages.filter((m) => m.event === undefined);
/** `tick <attempt> <n>` lines of the stage, as [attempt, n]. */
const ticks = (messages: EventSourceMessage[]) =>
  dataLines(messages)
    .map((m) => / stdout tick (\d+) (\d+)$/.exec(m.data))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [Number(m[1]), Number(m[2])] as const);

test('a log followed through the standby: kill -9 of the leader mid-stage; interrupted lines, the restart marker, the retry’s lines, in order, no gap, no duplicate', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'operator-logs-two-'));
  const double = await startEsdbDouble();
  const script = join(dir, 'stage.sh');
  await writeFile(
    script,
    [
      // The first attempt prints until its operator is gone (its reaper ends it); the retry prints and ends.
      'i=1',
      'while :; do',
      '  echo "tick $STAGE_ATTEMPT $i" || exit 1',
      `  if [ "$STAGE_ATTEMPT" -gt 1 ] && [ $i -ge ${RETRY_LINES} ]; then exit 0; fi`,
      '  i=$((i+1))',
      '  sleep 0.02',
      'done',
    ].join('\n'),
  );
  const operators: Operator[] = [];
  t.teardown(async () => {
    for (const op of operators) op.child.kill('SIGKILL');
    await double.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const started = await Promise.all([serve(dir, double, script, 'a'), serve(dir, double, script, 'b')]);
  operators.push(...started);
  const { leader, standby } = await oneLeader(started);

  const created = await standby.api('/jobs', { method: 'POST', json: { pipeline: 'talk' } });
  t.is(created.status, 201);
  const jobId = ((await created.json()) as { job: { job_id: string } }).job.job_id;
  await waitFor(
    'the log on the standby',
    async () => (await standby.api(`/jobs/${jobId}/stages/work/log`)).ok,
  );
  const follow = await openRawSse(
    `http://127.0.0.1:${standby.port}/api/v1/jobs/${jobId}/stages/work/log?follow=1`,
    {
      authorization: `Bearer ${TOKEN}`,
    },
  );
  t.is(follow.status, 200);
  await follow.until((m) => ticks(m).length >= 30, 15_000);
  t.false(follow.messages.some((m) => m.event === 'end'));

  leader.child.kill('SIGKILL');
  t.is((await leader.exited).signal, 'SIGKILL');
  await follow.until((m) => m.some((x) => x.event === 'end'), 30_000);

  const lines = dataLines(follow.messages).map((m) => m.data.replace(/^\S+ /, ''));
  t.log(
    `${lines.length} lines; ${ticks(follow.messages).filter(([a]) => a === 1).length} of the interrupted attempt`,
  );
  const firstTicks = ticks(follow.messages)
    .filter(([a]) => a === 1)
    .map(([, n]) => n);
  const retryTicks = ticks(follow.messages)
    .filter(([a]) => a === 2)
    .map(([, n]) => n);
  t.deepEqual(
    firstTicks,
    Array.from({ length: firstTicks.length }, (_, i) => i + 1),
    'the interrupted attempt’s lines: from the first, none missing, none twice',
  );
  t.true(firstTicks.length >= 30);
  t.deepEqual(
    retryTicks,
    Array.from({ length: RETRY_LINES }, (_, i) => i + 1),
    'the retry’s lines, all of them, once',
  );
  const lastFirst = lines.length - 1 - [...lines].reverse().findIndex((l) => l.startsWith('stdout tick 1 '));
  const marker = lines.findIndex((l) => /^runner operator restarted: /.test(l));
  const retryStart = lines.findIndex((l) => l.startsWith('runner attempt 2 of stage work'));
  const firstRetry = lines.findIndex((l) => l.startsWith('stdout tick 2 '));
  t.true(marker > lastFirst, `the marker (${marker}) after the interrupted lines (${lastFirst})`);
  t.true(retryStart > marker && firstRetry > retryStart, 'then the retry');
  t.regex(lines.at(-1) ?? '', /^runner exit code 0 after /);
  const ids = dataLines(follow.messages).map((m) => Number(m.id));
  t.true(
    ids.every((id, i) => i === 0 || id > (ids[i - 1] as number)),
    'byte offsets only grow',
  );

  // What the follower got is the log, byte for byte, as the new leader serves it and as its file holds it.
  const whole = await (await standby.api(`/jobs/${jobId}/stages/work/log`)).text();
  t.is(
    dataLines(follow.messages)
      .map((m) => `${m.data}\n`)
      .join(''),
    whole,
  );
  t.is(ids.at(-1), Buffer.byteLength(whole));
  const file = join(dir, standby.name, 'runs', jobId, 'logs', 'work.log');
  await waitFor(
    'the standby’s projected file',
    async () => (await readFile(file, 'utf8').catch(() => '')) === whole,
  );
  const events = (await (await standby.api(`/jobs/${jobId}/events?after=-1&limit=100`)).json()) as {
    events: JobEvent[];
  };
  t.like(
    events.events.find((e) => e.type === 'stage_failed'),
    { payload: { reason: 'operator restarted', will_retry: true } },
  );
});
