import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import fc from 'fast-check';
import type { Database, RootDatabase } from 'lmdb';
import { open } from 'lmdb';
import type { RowWriter } from '../../../src/projections/readModelRows.ts';
import { appendingRowWriter, SYNC_ROW_WRITER } from '../../../src/projections/readModelRows.ts';

type Row = [key: [string, string], value: number];

/** Keys shaped like the time index's: a timestamp-like string (some out of order, some equal), a padded number. */
const rowsArb = fc.array(
  fc.tuple(
    fc.tuple(fc.constantFrom('2026-01-01', '2026-01-02', '2026-01-03', '2026-01-02T', ''), fc.nat(999)),
    fc.nat(),
  ),
  { maxLength: 60 },
);

/** A fresh LMDB env in a temporary directory, closed and removed after the test. */
async function tempEnv(t: ExecutionContext): Promise<RootDatabase> {
  const dir = await mkdtemp(join(tmpdir(), 'operator-rows-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const env = open({ path: dir, maxDbs: 4, encoding: 'json' });
  t.teardown(() => env.close());
  return env;
}

test('the appending writer leaves a table exactly as plain puts do, whatever the order of the keys', async (t) => {
  const env = await tempEnv(t);
  const appended = env.openDB<number, [string, string]>('appended', {});
  const plain = env.openDB<number, [string, string]>('plain', {});
  const fill = (db: Database<number, [string, string]>, rows: readonly Row[], w: RowWriter) =>
    env.transactionSync(() => {
      db.clearSync();
      for (const [key, value] of rows) w.put(db, key, value, true);
    });
  let appendedSome = false;
  await fc.assert(
    fc.property(rowsArb, (raw) => {
      const rows: Row[] = raw.map(([[ts, n], value]) => [[ts, String(n).padStart(3, '0')], value]);
      fill(appended, rows, appendingRowWriter());
      fill(plain, rows, SYNC_ROW_WRITER);
      const got = [...appended.getRange()].map(({ key, value }) => [key, value]);
      t.deepEqual(
        got,
        [...plain.getRange()].map(({ key, value }) => [key, value]),
      );
      appendedSome ||= rows.length > 1;
    }),
    { numRuns: 200 },
  );
  t.true(appendedSome, 'some runs wrote more than one row');
});

test('the appending writer appends in key order and still puts a key that falls below the largest', async (t) => {
  const env = await tempEnv(t);
  const db = env.openDB<string, [string, string]>('time', {});
  const w = appendingRowWriter();
  env.transactionSync(() => {
    w.put(db, ['2026-01-02', '001'], 'a', true);
    w.put(db, ['2026-01-01', '002'], 'b', true); // older time, later position
    w.put(db, ['2026-01-02', '003'], 'c', true);
    w.put(db, ['2026-01-02', '003'], 'd', true); // the same key again: replaced, as a put would
  });
  t.deepEqual(
    [...db.getRange()].map(({ key, value }) => [key, value]),
    [
      [['2026-01-01', '002'], 'b'],
      [['2026-01-02', '001'], 'a'],
      [['2026-01-02', '003'], 'd'],
    ],
  );
});
