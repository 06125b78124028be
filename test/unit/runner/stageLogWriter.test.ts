import { randomUUID } from 'node:crypto';
import test from 'ava';
import type { LogLine } from '../../../src/domain/logRecord.ts';
import { logBytes, recordEnd } from '../../../src/domain/logRecord.ts';
import type { EventData } from '../../../src/infra/eventstore/eventStore.ts';
import {
  logStreamName,
  toLogEventData,
  toStoredStageLog,
} from '../../../src/infra/eventstore/stageLogStreams.ts';
import { StageLogWriter } from '../../../src/runner/stageLogWriter.ts';
import { MemoryEventStore } from '../../helpers/memoryEventStore.ts';

const line = (text: string): LogLine => ({ ts: '2026-11-24T10:00:00.000Z', stream: 'stdout', text });

async function records(store: MemoryEventStore, stream: string) {
  const out = [];
  for await (const recorded of store.readStream(stream)) out.push(toStoredStageLog(recorded));
  return out;
}

test('log writer: records in the attempt’s stream, offsets contiguous from the base, appends grouped while one is in flight', async (t) => {
  const store = new MemoryEventStore();
  const writer = new StageLogWriter({
    store,
    jobId: 'j1',
    stage: 'render',
    attempt: 2,
    startedSeq: 5,
    baseOffset: 1000,
  });
  const batches = Array.from({ length: 10 }, (_, i) => [line(`a${i}`), line(`b${i}`)]);
  for (const lines of batches) writer.write(lines, logBytes(lines));
  await writer.flushed();
  t.is(writer.stream, logStreamName('j1', 'render', 5));
  const stored = await records(store, writer.stream);
  t.is(stored.length, 10);
  let offset = 1000;
  for (const [i, s] of stored.entries()) {
    t.like(s.record, { job_id: 'j1', stage: 'render', attempt: 2, started_seq: 5, offset });
    t.deepEqual(s.record.lines, batches[i]);
    offset = recordEnd(s.record);
  }
  t.is(writer.offset, offset);
  t.true(writer.appends < 10, `${writer.appends} appends for 10 records`);
});

test('log writer: once another process wrote to the attempt’s stream (a takeover marker), it stops and says so', async (t) => {
  const store = new MemoryEventStore();
  const gaveUp: Error[] = [];
  const writer = new StageLogWriter({
    store,
    jobId: 'j2',
    stage: 'render',
    attempt: 1,
    startedSeq: 1,
    baseOffset: 0,
    onGiveUp: (e) => gaveUp.push(e),
  });
  writer.write([line('before')], logBytes([line('before')]));
  await writer.flushed();
  const marker: EventData = toLogEventData(
    {
      job_id: 'j2',
      stage: 'render',
      attempt: 1,
      started_seq: 1,
      offset: writer.offset,
      lines: [{ ts: '2026-11-24T10:00:01.000Z', stream: 'runner', text: 'operator restarted' }],
    },
    randomUUID(),
  );
  await store.append(writer.stream, [marker]);
  writer.write([line('late')], logBytes([line('late')]));
  writer.write([line('later')], logBytes([line('later')]));
  await writer.flushed();
  t.is(gaveUp.length, 1);
  t.regex(gaveUp[0]?.message ?? '', /expected revision/);
  const texts = (await records(store, writer.stream)).flatMap((s) => s.record.lines.map((l) => l.text));
  t.deepEqual(texts, ['before', 'operator restarted'], 'nothing after the marker from the old writer');
});
