import test from 'ava';
import type { JobEvent } from '../../../src/domain/events.ts';
import { verifyProjections } from '../../../src/projections/maintenance/verifyProjections.ts';
import type { PostingKey } from '../../../src/projections/searchIndex.ts';
import { allJobEvents } from '../../helpers/jobTraffic.ts';
import { harness } from '../../helpers/projectionHarness.ts';

/**
 * `projections verify` checks the search index too: an event missing under one of its terms, a position
 * listed under a term its event does not have, the same position twice, and a malformed row are each named;
 * a healthy index is clean.
 */

const pad = (position: string) => position.padStart(20, '0');

test('verify names what is wrong in the search index: a missing entry, a wrong one, a duplicate, a malformed row', async (t) => {
  const h = await harness({ batchSize: 7 });
  t.teardown(h.cleanup);
  await h.traffic.runMany({ jobs: 6, concurrency: 3 });
  await h.settle();
  const verify = () =>
    verifyProjections({
      store: h.store,
      readModelStore: h.projections.readModelStore,
      runsDir: h.runsDir,
      names: ['readmodel'],
    });
  t.deepEqual((await verify()).differences, [], 'clean before any damage');

  const events = await allJobEvents(h.store);
  const started = events.find((e) => e.type === 'stage_started') as JobEvent;
  const created = events.find((e) => e.type === 'job_created') as JobEvent;
  const tables = h.projections.readModelStore.tables();
  const rowsOf = (field: string, value: string) => [
    ...tables.searchPostings.getRange({ start: [field, value, ''], end: [field, value, '\uffff'] }),
  ];

  // 1. The stage_started event taken out of its type's row.
  const [typeRow] = rowsOf('type', 'stage_started').filter(({ value }) =>
    value.includes(pad(started.position)),
  );
  t.truthy(typeRow);
  const { key, value } = typeRow as { key: PostingKey; value: string };
  const without = value.replace(pad(started.position), '');
  await tables.searchPostings.remove(key);
  if (without.length > 0) await tables.searchPostings.put([key[0], key[1], without.slice(0, 20)], without);
  const missing = (await verify()).differences;
  t.deepEqual(
    missing.map((d) => [d.kind, d.job_id, d.seq, d.row?.replace(/^g\d+:/, '')]),
    [['missing', started.job_id, started.seq, 'search_postings[type,"stage_started"]']],
  );
  // Put back: clean again.
  if (without.length > 0) await tables.searchPostings.remove([key[0], key[1], without.slice(0, 20)]);
  await tables.searchPostings.put(key, value);
  t.deepEqual((await verify()).differences, [], 'clean once restored');

  // 2. The job_created event listed under a status it does not have, in a row of its own.
  const wrongKey: PostingKey = ['status', 'no-such-status', pad(created.position)];
  await tables.searchPostings.put(wrongKey, pad(created.position));
  // 3. A row whose list is not 20-digit positions.
  const malformed: PostingKey = ['actor', 'someone', pad('999999')];
  await tables.searchPostings.put(malformed, 'not positions');
  const damaged = (await verify()).differences;
  t.true(
    damaged.some(
      (d) =>
        d.kind === 'extra' &&
        d.job_id === created.job_id &&
        d.row?.endsWith(`search_postings[status,"no-such-status",${created.position}]`) === true &&
        /listed under status, whose value its event does not have/.test(d.detail),
    ),
    JSON.stringify(damaged),
  );
  t.true(
    damaged.some(
      (d) => d.kind === 'different' && /malformed row/.test(d.detail) && d.row?.includes('"someone"'),
    ),
    JSON.stringify(damaged),
  );
  await tables.searchPostings.remove(wrongKey);
  await tables.searchPostings.remove(malformed);
  t.deepEqual((await verify()).differences, [], 'clean once the damage is removed');

  // 4. A second row of the job_created type listing again the second job_created event, which the first row holds.
  const second = events.filter((e) => e.type === 'job_created')[1] as JobEvent;
  const [createdRow] = rowsOf('type', 'job_created');
  t.true(createdRow?.value.includes(pad(second.position)), 'the first row holds the second job_created');
  const repeated: PostingKey = ['type', 'job_created', pad(second.position)];
  await tables.searchPostings.put(repeated, pad(second.position));
  // The overlap also hides what follows it in the first row from a lookup, which lands in the second row.
  const overlapping = (await verify()).differences;
  t.deepEqual(
    overlapping.find((d) => d.kind === 'extra'),
    {
      projection: 'readmodel',
      kind: 'extra',
      job_id: second.job_id,
      seq: second.seq,
      row: `g${tables.generation}:search_postings[type,"job_created",${second.position}]`,
      detail: `position ${second.position} is listed twice under type`,
    },
  );
  t.true(
    overlapping.every((d) => d.row?.includes('search_postings[type,"job_created"')),
    JSON.stringify(overlapping),
  );
  await tables.searchPostings.remove(repeated);
  t.deepEqual((await verify()).differences, [], 'clean after the overlap goes');

  // 5. A row whose first position left it, as retention leaves it (the key stays): not malformed. The event
  // is still in the log here, so it is named as missing from the index, and nothing else is.
  const [firstRow] = rowsOf('type', 'job_created');
  const { key: rowKey, value: list } = firstRow as { key: PostingKey; value: string };
  await tables.searchPostings.put(rowKey, list.slice(20));
  t.deepEqual(
    (await verify()).differences.map((d) => [d.kind, d.job_id, d.seq]),
    [['missing', created.job_id, created.seq]],
  );
  await tables.searchPostings.put(rowKey, list);
  t.deepEqual((await verify()).differences, [], 'clean at the end');
});
