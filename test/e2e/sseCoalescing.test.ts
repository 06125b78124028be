import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { EventSourceMessage } from 'eventsource-parser';
import type { JobCommand } from '../../src/domain/commands.ts';
import { decide, evolve, initialState } from '../../src/domain/jobDecider.ts';
import type { EventData } from '../../src/infra/eventstore/eventStore.ts';
import { jobStreamName } from '../../src/infra/eventstore/eventStore.ts';
import { toEventData, toJobEvent } from '../../src/infra/eventstore/jobEvents.ts';
import type { RawSse } from '../helpers/sseClient.ts';
import { eventsOnly, isHeartbeat, openRawSse } from '../helpers/sseClient.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { json, startTestServer, TOKENS } from '../helpers/testServer.ts';

let server: TestServer;
test.before(async () => {
  server = await startTestServer();
});
test.after.always(async () => {
  await server?.stop();
});

const post = (path: string, body: unknown = {}) => server.api(path, { method: 'POST', json: body });

async function startedJob(): Promise<string> {
  const res = await post('/jobs', { pipeline: 'external' });
  const id = (await json<{ job: { job_id: string } }>(res)).job.job_id;
  await post(`/jobs/${id}/start`);
  return id;
}

/** The events of `commands`, decided one after the other on the job's state as the store holds it. */
async function decideAll(
  jobId: string,
  commands: JobCommand[],
): Promise<{ data: EventData[]; expectedRevision: number }> {
  let state = initialState();
  for await (const recorded of server.deps.store.readStream(jobStreamName(jobId)))
    state = evolve(state, toJobEvent(recorded));
  const expectedRevision = state.seq;
  const data: EventData[] = [];
  for (const command of commands) {
    for (const event of decide(command, state, { maxEventsPerJob: 1000 })) {
      const id = randomUUID();
      data.push(toEventData(event, id));
      state = evolve(state, { ...event, id, job_id: jobId, seq: state.seq + 1, position: '0' });
    }
  }
  return { data, expectedRevision };
}

const by = () => ({ actor: 'runner', ts: new Date().toISOString() });
const stage = (type: 'start_stage' | 'complete_stage', name: string): JobCommand => ({
  type,
  stage: name,
  ...by(),
});

async function framesSent(): Promise<number> {
  return (await server.deps.metrics.sseFramesSent.get()).values[0]?.value ?? 0;
}

/** Resolves once the stream has had a heartbeat: its feed has long caught up and follows the live tail. */
const following = (sse: RawSse) => sse.until((m) => m.some(isHeartbeat), 5000);

/** The body of a poll once the read model holds `count` events after its cursor. */
async function polled(path: string, count: number): Promise<string> {
  let text = '';
  for (let i = 0; i < 100; i++) {
    text = await (await server.api(path)).text();
    if ((JSON.parse(text) as { events: unknown[] }).events.length >= count) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
  return text;
}

const data = (messages: EventSourceMessage[]) => messages.map((m) => m.data);

test('events committed together (one append of a whole job run, another job in the same commit) reach every stream as separate events with their ids, in order, counted one by one', async (t) => {
  const a = await startedJob();
  const b = await startedJob();
  const token = `access_token=${TOKENS.viewer}`;
  const base = `${server.url}/api/v1`;
  const [jobA, jobAAlias, all, allB] = await Promise.all([
    openRawSse(`${base}/jobs/${a}/events/stream?${token}`),
    openRawSse(`${base}/jobs/${a}/events/stream?frames=named&names=alias&${token}`),
    openRawSse(`${base}/events/stream?${token}`),
    openRawSse(`${base}/events/stream?job=${b}&${token}`),
  ]);
  await Promise.all([jobA, jobAAlias, all, allB].map(following));
  const { store } = server.deps;
  let headA = -1;
  for await (const e of store.readStream(jobStreamName(a), { direction: 'backwards', maxCount: 1 }))
    headA = e.revision;
  const after = (await store.headPosition()) ?? '-1';
  const countedBefore = await framesSent();

  // Job a runs to its end in one append; job b's append joins the same write transaction (group commit).
  const runA = await decideAll(a, [
    stage('start_stage', 'ingest'),
    stage('complete_stage', 'ingest'),
    stage('start_stage', 'review'),
    stage('complete_stage', 'review'),
    { type: 'approve_gate', gate: 'review', ...by() },
    stage('start_stage', 'publish'),
    stage('complete_stage', 'publish'),
  ]);
  const runB = await decideAll(b, [stage('start_stage', 'ingest'), stage('complete_stage', 'ingest')]);
  await Promise.all([
    store.append(jobStreamName(a), runA.data, { expectedRevision: runA.expectedRevision }),
    store.append(jobStreamName(b), runB.data, { expectedRevision: runB.expectedRevision }),
  ]);
  const nA = runA.data.length;
  const nB = runB.data.length;
  t.true(nA >= 10, `job a's run is ${nA} events`);

  await Promise.all([
    jobA.until((m) => m.some((x) => x.event === 'end')),
    jobAAlias.until((m) => m.some((x) => x.event === 'end')),
    all.until((m) => eventsOnly(m).length >= nA + nB),
    allB.until((m) => eventsOnly(m).length >= nB),
  ]);

  // Per job: ids are the seqs after the head, the data is what polling returns, then `end` with the last seq.
  const polledAText = await polled(`/jobs/${a}/events?after=${headA}&limit=1000`, nA);
  const polledA = JSON.parse(polledAText) as { events: { seq: number; type: string }[] };
  const polledAAlias = JSON.parse(
    await polled(`/jobs/${a}/events?after=${headA}&limit=1000&names=alias`, nA),
  ) as { events: unknown[] };
  const streamedA = eventsOnly(jobA.messages);
  t.deepEqual(
    streamedA.map((m) => Number(m.id)),
    polledA.events.map((e) => e.seq),
  );
  t.deepEqual(
    streamedA.map((m) => m.event),
    streamedA.map(() => undefined),
  );
  t.true(polledAText.includes(`"events":[${data(streamedA).join(',')}]`));
  const endA = jobA.messages.at(-1);
  t.is(endA?.event, 'end');
  t.is(endA?.id, String(polledA.events.at(-1)?.seq));

  // Named, alias names: the same events one by one, each named by its type, the JSON in the seed's names.
  const streamedAlias = eventsOnly(jobAAlias.messages);
  t.deepEqual(
    streamedAlias.map((m) => [m.id, m.event]),
    polledA.events.map((e) => [String(e.seq), e.type]),
  );
  t.deepEqual(
    streamedAlias.map((m) => JSON.parse(m.data)),
    polledAAlias.events,
  );

  // Every job: both jobs' events in position order, ids = positions, exactly what the global poll returns.
  const polledAll = await polled(`/events?after=${after}&limit=1000`, nA + nB);
  const streamedAll = eventsOnly(all.messages);
  t.is(streamedAll.length, nA + nB);
  t.true(polledAll.includes(`"events":[${data(streamedAll).join(',')}]`));
  t.deepEqual(
    streamedAll.map((m) => m.id),
    streamedAll.map((m) => (JSON.parse(m.data) as { position: string }).position),
  );
  const positions = streamedAll.map((m) => BigInt(m.id as string));
  t.true(positions.every((p, i) => i === 0 || p > (positions[i - 1] as bigint)));
  // Filtered to job b: only its events, in order.
  t.deepEqual(
    data(eventsOnly(allB.messages)),
    data(streamedAll.filter((m) => (JSON.parse(m.data) as { job_id: string }).job_id === b)),
  );

  // The frame counter counts events, not writes.
  t.is((await framesSent()) - countedBefore, 2 * nA + (nA + nB) + nB);
  for (const sse of [jobA, jobAAlias, all, allB]) sse.abort();
});
