// A second baseline of the rebuild: the read model's per-event rows alone (`writeEventRows` and the batch's
// search postings, the rows every event adds to a generation), written into a fresh read model env in
// transactions of 10,000 events, the rebuild's batch, on one thread: no files, no fold, no job rows, no worker thread, no JSON crossing
// threads. Only the writing is timed (the log is read and decoded before each batch's transaction), so this
// is the most a rebuild could do per second with this table layout on this machine, whatever else it did.
// Run: node --import tsx bench/lib/readModelRowsChild.ts --store <dir> --out <data dir> [--limit N]
import { parseArgs } from 'node:util';
import type { JobEvent } from '../../src/domain/events.ts';
import { JOB_STREAM_PREFIX } from '../../src/infra/eventstore/eventStore.ts';
import { toJobEvent } from '../../src/infra/eventstore/jobEvents.ts';
import { openLmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';
import { canonicalJson } from '../../src/projections/jobFold.ts';
import { appendingRowWriter, writeEventRows } from '../../src/projections/readModelRows.ts';
import { ReadModelStore } from '../../src/projections/readModelStore.ts';
import { writeSearchPostings } from '../../src/projections/searchIndex.ts';
import { emit } from './rpc.ts';

const { values } = parseArgs({
  options: { store: { type: 'string' }, out: { type: 'string' }, limit: { type: 'string' } },
});
if (!values.store || !values.out) throw new Error('--store and --out are required');
const limit = values.limit ? Number(values.limit) : Number.POSITIVE_INFINITY;
const BATCH = 10_000;

const store = await openLmdbEventStore({ path: values.store });
const rms = ReadModelStore.open(values.out);
const t = rms.tables(2);
const rows = appendingRowWriter();
let events = 0;
let writeMs = 0;
let batch: JobEvent[] = [];
// As the rebuild's builder does: the rows are put in the transaction's callback, whose commit runs on
// lmdb-js's write thread; the time is the callback's.
const write = async () => {
  const written = batch;
  batch = [];
  const texts = written.map(canonicalJson);
  await t.checkpoints.transaction(() => {
    const t0 = performance.now();
    for (const [i, e] of written.entries()) writeEventRows(t, e, rows, texts[i]);
    writeSearchPostings(t, written);
    writeMs += performance.now() - t0;
  });
  events += written.length;
};
for await (const recorded of store.readAll({ filter: { streamNamePrefix: [JOB_STREAM_PREFIX] } })) {
  batch.push(toJobEvent(recorded));
  if (batch.length === BATCH) await write();
  if (events + batch.length >= limit) break;
}
if (batch.length > 0) await write();
let rowCount = 0;
for (const db of [t.events, t.eventsByTs, t.positions, t.searchPostings, t.eventsByTime])
  rowCount += (db.getStats() as { entryCount: number }).entryCount;
await rms.close();
await store.close();
emit('result', { events, rows: rowCount, writeMs });
