import { randomUUID } from 'node:crypto';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import type { StageLogRecord } from '../../src/domain/logRecord.ts';
import { LOG_RECORD_SCHEMA_VERSION, LOG_RECORD_TYPE, recordEnd } from '../../src/domain/logRecord.ts';
import type { EventStore, RecordedEvent, SubscriptionItem } from '../../src/infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX } from '../../src/infra/eventstore/eventStore.ts';
import {
  LOG_STREAM_PREFIX,
  logStreamName,
  readStageLog,
  stageLogEnd,
  toLogEventData,
  toStoredStageLog,
} from '../../src/infra/eventstore/stageLogStreams.ts';
import type { EventStoreFactory } from './eventStoreContract.ts';

/**
 * Stage log streams on every store adapter (issue 18): `joblog-<job>.<stage>.<seq>` is a category of its
 * own. A reader of `$all` filtered by `job-` (projections, the runner, SSE, polling, export) never gets a log
 * record, a job's stream never holds one, and the records read back whole, in order, with their schema
 * version. Each test uses job ids of its own, so a shared, non-empty server works too.
 */
async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

const uniqueJob = (): string => `lc${randomUUID().slice(0, 8)}`;

const jobEvent = (type: string) => ({ id: randomUUID(), type, data: { ts: new Date().toISOString() } });

function record(jobId: string, startedSeq: number, offset: number, n: number): StageLogRecord {
  return {
    job_id: jobId,
    stage: 'render',
    attempt: 1,
    started_seq: startedSeq,
    offset,
    lines: Array.from({ length: n }, (_, i) => ({
      ts: new Date().toISOString(),
      stream: 'stdout' as const,
      text: `line ${offset}-${i}`,
    })),
  };
}

/** Appends `count` records of `lines` lines each to the attempt's stream; returns them. */
async function appendLog(
  store: EventStore,
  jobId: string,
  startedSeq: number,
  from: number,
  count: number,
): Promise<StageLogRecord[]> {
  const out: StageLogRecord[] = [];
  let offset = from;
  for (let i = 0; i < count; i++) {
    const r = record(jobId, startedSeq, offset, 3);
    await store.append(logStreamName(jobId, 'render', startedSeq), [toLogEventData(r, randomUUID())]);
    out.push(r);
    offset = recordEnd(r);
  }
  return out;
}

async function headOf(store: EventStore): Promise<string> {
  return (await store.headPosition()) ?? 'start';
}

const after = (events: RecordedEvent[], head: string) =>
  head === 'start' ? events : events.filter((e) => BigInt(e.position) > BigInt(head));

/** Pulls a subscription until `done` says so, or fails after a bound. */
async function pullUntil(
  items: AsyncIterator<SubscriptionItem>,
  done: (seen: RecordedEvent[]) => boolean,
  seen: RecordedEvent[] = [],
): Promise<RecordedEvent[]> {
  const until = Date.now() + 5000;
  while (!done(seen)) {
    const next = await Promise.race([
      items.next(),
      new Promise<'timeout'>((resolve) =>
        setTimeout(() => resolve('timeout'), Math.max(0, until - Date.now())),
      ),
    ]);
    if (next === 'timeout' || next.done) throw new Error(`subscription stalled after ${seen.length} events`);
    if (next.value.kind === 'event') seen.push(next.value.event);
  }
  return seen;
}

export function defineLogStreamsContract(name: string, factory: EventStoreFactory): void {
  const storeTest = (title: string, body: (t: ExecutionContext, store: EventStore) => Promise<void>) =>
    test(`${name}: log streams: ${title}`, async (t) => {
      const { store, cleanup } = await factory();
      t.teardown(cleanup);
      await body(t, store);
    });

  storeTest('the name is a category of its own, outside job-, one stream per attempt', async (t) => {
    t.is(LOG_STREAM_PREFIX, 'joblog-');
    t.false(LOG_STREAM_PREFIX.startsWith(JOB_STREAM_PREFIX));
    t.is(logStreamName('j-1', 'render', 7), 'joblog-j-1.render.7');
    // Ids and stage names hold no dot: two (job, stage) pairs never share a stream.
    t.not(logStreamName('a-b', 'c', 1), logStreamName('a', 'b-c', 1));
  });

  storeTest(
    'readAll filtered by job- never returns a log record; the job stream and its revisions do not hold them',
    async (t, store) => {
      const jobId = uniqueJob();
      const head = await headOf(store);
      await store.append(`${JOB_STREAM_PREFIX}${jobId}`, [
        jobEvent('job_created'),
        jobEvent('stage_started'),
      ]);
      await appendLog(store, jobId, 1, 0, 5);
      const last = await store.append(`${JOB_STREAM_PREFIX}${jobId}`, [jobEvent('stage_completed')]);
      t.is(last.nextRevision, 2, 'the job stream counts its own events only (max_events_per_job)');

      const jobReader = after(
        await collect(
          store.readAll({ fromPosition: head, filter: { streamNamePrefix: [JOB_STREAM_PREFIX] } }),
        ),
        head,
      );
      t.true(jobReader.every((e) => e.streamId.startsWith(JOB_STREAM_PREFIX)));
      t.deepEqual(
        jobReader.filter((e) => e.streamId === `${JOB_STREAM_PREFIX}${jobId}`).map((e) => e.type),
        ['job_created', 'stage_started', 'stage_completed'],
      );
      t.deepEqual(
        (await collect(store.readStream(`${JOB_STREAM_PREFIX}${jobId}`))).map((e) => e.revision),
        [0, 1, 2],
      );
      const logReader = after(
        await collect(
          store.readAll({ fromPosition: head, filter: { streamNamePrefix: [LOG_STREAM_PREFIX] } }),
        ),
        head,
      ).filter((e) => e.streamId.startsWith(`${LOG_STREAM_PREFIX}${jobId}.`));
      t.is(logReader.length, 5);
      t.true(logReader.every((e) => e.type === LOG_RECORD_TYPE));
    },
  );

  storeTest(
    'a job- subscription of $all gets the job events around log records, never a record; a joblog- one gets them in order',
    async (t, store) => {
      const jobId = uniqueJob();
      const head = await headOf(store);
      const jobs = store.subscribeToAll({
        fromPosition: head,
        filter: { streamNamePrefix: [JOB_STREAM_PREFIX] },
      });
      const logs = store.subscribeToAll({
        fromPosition: head,
        filter: { streamNamePrefix: [LOG_STREAM_PREFIX] },
      });
      t.teardown(async () => {
        await jobs.close();
        await logs.close();
      });
      const jobItems = jobs[Symbol.asyncIterator]();
      const logItems = logs[Symbol.asyncIterator]();
      await store.append(`${JOB_STREAM_PREFIX}${jobId}`, [jobEvent('job_created')]);
      const written = await appendLog(store, jobId, 0, 0, 4);
      await store.append(`${JOB_STREAM_PREFIX}${jobId}`, [jobEvent('job_completed')]);

      const mine = (e: RecordedEvent) => e.streamId.includes(jobId);
      const jobSeen = (await pullUntil(jobItems, (seen) => seen.filter(mine).length >= 2)).filter(mine);
      t.deepEqual(
        jobSeen.map((e) => e.type),
        ['job_created', 'job_completed'],
      );
      t.true(jobSeen.every((e) => e.streamId === `${JOB_STREAM_PREFIX}${jobId}`));
      const logSeen = (await pullUntil(logItems, (seen) => seen.filter(mine).length >= 4)).filter(mine);
      t.deepEqual(
        logSeen.map((e) => toStoredStageLog(e).record),
        written,
      );
      t.true(logSeen.every((e) => e.metadata['schema_version'] === LOG_RECORD_SCHEMA_VERSION));
    },
  );

  storeTest(
    'a stage log reads back across attempts from a byte offset; its end is the last record’s',
    async (t, store) => {
      const jobId = uniqueJob();
      const first = await appendLog(store, jobId, 1, 0, 3);
      const second = await appendLog(store, jobId, 4, recordEnd(first.at(-1) as StageLogRecord), 2);
      const runs = [
        { startedSeq: 1, attempt: 1 },
        { startedSeq: 4, attempt: 2 },
      ];
      const end = recordEnd(second.at(-1) as StageLogRecord);
      t.deepEqual(await stageLogEnd(store, jobId, 'render', runs), { end, records: true });
      t.deepEqual(await stageLogEnd(store, jobId, 'render', []), { end: 0, records: false });
      const all = await collect(readStageLog(store, jobId, 'render', runs));
      t.deepEqual(
        all.map((s) => s.record),
        [...first, ...second],
      );
      const from = recordEnd(first[1] as StageLogRecord);
      const tail = await collect(readStageLog(store, jobId, 'render', runs, from));
      t.deepEqual(
        tail.map((s) => s.record),
        [first[2], ...second],
      );
    },
  );

  storeTest('deleting an attempt’s log stream hides its records from every reader', async (t, store) => {
    const jobId = uniqueJob();
    const head = await headOf(store);
    await appendLog(store, jobId, 2, 0, 2);
    await store.deleteStream(logStreamName(jobId, 'render', 2));
    t.deepEqual(await collect(store.readStream(logStreamName(jobId, 'render', 2))), []);
    const left = after(
      await collect(store.readAll({ fromPosition: head, filter: { streamNamePrefix: [LOG_STREAM_PREFIX] } })),
      head,
    ).filter((e) => e.streamId.includes(jobId));
    t.deepEqual(left, []);
  });
}
