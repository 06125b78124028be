import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { JobEvent } from '../../../src/domain/events.ts';
import { loadConfig } from '../../../src/infra/config/loadConfig.ts';
import { createJob, hasType, waitFor, waitForEvents } from '../../helpers/runnerHarness.ts';
import { startTestServer } from '../../helpers/testServer.ts';

test('the shipped demo pipeline, both gates approved: events.jsonl tells who did what, and when', async (t) => {
  const shipped = loadConfig({ path: 'conf/operator.yaml', env: {} });
  const demo = shipped.pipelines['demo'];
  if (!demo) throw new Error('conf/operator.yaml ships no demo pipeline');
  const server = await startTestServer(
    { pipeline: { default: 'demo' }, pipelines: { demo } },
    { runner: true },
  );
  t.teardown(() => server.stop());
  const jobId = await createJob(server, 'demo', { flaky: true });

  for (const gate of ['storyboard', 'publish']) {
    await waitForEvents(server, jobId, `the ${gate} gate`, (events) =>
      events.some((e) => e.type === 'gate_pause' && e.payload['gate'] === gate),
    );
    const res = await server.api(`/jobs/${jobId}/gates/${gate}/approve`, {
      method: 'POST',
      as: 'operator',
      json: { comment: `${gate} approved` },
    });
    t.is(res.status, 200);
  }
  await waitForEvents(server, jobId, 'the end', hasType('job_completed'));

  const path = join(server.config.storage.runs_dir, jobId, 'events.jsonl');
  const lines = await waitFor('events.jsonl to hold the whole story', async () => {
    const text = await readFile(path, 'utf8').catch(() => '');
    return text.includes('"job_completed"') ? text.trimEnd().split('\n') : undefined;
  });
  const events = lines.map((l) => JSON.parse(l) as JobEvent);
  t.log(
    `\n${events.map((e) => `${e.ts}  ${e.actor.padEnd(6)}  ${e.type.padEnd(18)}  ${e.message}`).join('\n')}`,
  );

  t.deepEqual(
    events.map((e) => `${e.type} ${e.stage ?? '-'} ${e.actor}`),
    [
      'job_created - alice',
      'job_started - runner',
      'stage_started script runner',
      'stage_completed script runner',
      'stage_started storyboard runner',
      'stage_completed storyboard runner',
      'gate_pause storyboard runner',
      'gate_approved storyboard alice',
      'job_resumed storyboard alice',
      'stage_started render runner',
      'stage_failed render runner', // params {"flaky":true}: the first render fails once
      'stage_started render runner',
      'stage_completed render runner',
      'stage_started publish runner',
      'stage_completed publish runner',
      'gate_pause publish runner',
      'gate_approved publish alice',
      'job_resumed publish alice',
      'job_completed - alice',
    ],
  );
  t.deepEqual(
    events.map((e) => e.seq),
    events.map((_, i) => i),
  );
  const story = events.map((e) => e.message);
  t.true(story.includes('gate storyboard approved by alice: storyboard approved'));
  t.true(
    story.some((m) => /^stage render failed \(attempt 1 of 2\): exit code 1; it will be retried$/.test(m)),
  );
  t.true(story.includes('stage render started again (attempt 2 of 2)'));
  t.regex(story.at(-1) ?? '', /^job completed: all 4 stages done in /);
  const failed = events.find((e) => e.type === 'stage_failed') as JobEvent;
  t.true((failed.payload['log_tail'] as string[]).some((l) => l.endsWith('stderr flaky failure')));
  const times = events.map((e) => Date.parse(e.ts));
  t.deepEqual(
    times,
    [...times].sort((a, b) => a - b),
    'chronological',
  );
});
