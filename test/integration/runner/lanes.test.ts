import test from 'ava';
import type { JobEvent } from '../../../src/domain/events.ts';
import { createJob, ended, isTerminalType, waitForEvents } from '../../helpers/runnerHarness.ts';
import type { TestServer } from '../../helpers/testServer.ts';
import { json, startTestServer } from '../../helpers/testServer.ts';

interface Span {
  jobId: string;
  created: bigint;
  started: bigint;
  ended: bigint;
  startedTs: number;
  endedTs: number;
}

function span(jobId: string, events: JobEvent[]): Span {
  const of = (match: (e: JobEvent) => boolean) => events.find(match) as JobEvent;
  const started = of((e) => e.type === 'job_started');
  const end = of((e) => isTerminalType(e.type));
  return {
    jobId,
    created: BigInt(of((e) => e.type === 'job_created').position),
    started: BigInt(started.position),
    ended: BigInt(end.position),
    startedTs: Date.parse(started.ts),
    endedTs: Date.parse(end.ts),
  };
}

/** The most jobs running at once: between a job_started and its job's terminal event, by log position. */
function maxOverlap(spans: Span[]): number {
  const marks = spans.flatMap((s) => [
    { at: s.started, delta: 1 },
    { at: s.ended, delta: -1 },
  ]);
  marks.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.delta - b.delta));
  let running = 0;
  let max = 0;
  for (const m of marks) {
    running += m.delta;
    max = Math.max(max, running);
  }
  return max;
}

async function runFive(t: { teardown(fn: () => Promise<void>): void }, lanes: number) {
  const server: TestServer = await startTestServer(
    {
      pipeline: { default: 'short', lanes },
      pipelines: {
        short: {
          stages: [
            { name: 'a', run: 'sleep 0.2' },
            { name: 'b', run: 'sleep 0.1' },
          ],
        },
      },
    },
    { runner: true },
  );
  t.teardown(() => server.stop());
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push(await createJob(server, 'short'));
  const queue = await Promise.all(
    ids.map(async (id) =>
      json<{ status: string; queue_position: number | null; lane: number | null }>(
        await server.api(`/jobs/${id}`),
      ),
    ),
  );
  const spans: Span[] = [];
  for (const id of ids)
    spans.push(span(id, await waitForEvents(server, id, 'the job to end', ended, 20_000)));
  return { server, ids, spans, queue };
}

test('with lanes: 1, five jobs run strictly one at a time, in creation order', async (t) => {
  const { spans, queue } = await runFive(t, 1);
  t.is(maxOverlap(spans), 1);
  for (let i = 1; i < spans.length; i++) {
    const previous = spans[i - 1] as Span;
    const current = spans[i] as Span;
    t.true(current.created > previous.created);
    t.true(current.started > previous.ended, `job ${i} started before job ${i - 1} ended`);
    t.true(current.startedTs >= previous.endedTs, `job ${i} started at a time before job ${i - 1} ended`);
  }
  // Right after creation the first job holds the lane and the rest wait in order.
  const positions = queue.map((q) => q.queue_position).filter((p): p is number => p !== null);
  t.deepEqual(
    positions,
    [...positions].sort((a, b) => a - b),
  );
  t.true(queue.slice(1).some((q) => q.status === 'queued'));
  t.log(queue.map((q) => `${q.status} queue=${q.queue_position} lane=${q.lane}`).join(', '));
});

test('with lanes: 2, jobs run two at a time and never more', async (t) => {
  const { spans } = await runFive(t, 2);
  t.is(maxOverlap(spans), 2);
  const startOrder = [...spans].sort((a, b) => (a.started < b.started ? -1 : 1)).map((s) => s.jobId);
  t.deepEqual(
    startOrder,
    spans.map((s) => s.jobId),
    'started in creation order',
  );
});
