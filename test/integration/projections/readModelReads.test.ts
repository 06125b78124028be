import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { EventSearch } from '../../../src/projections/eventSearch.ts';
import { ReadModel } from '../../../src/projections/index.ts';
import { tempReadModel } from '../../helpers/projectionHarness.ts';

const run = promisify(execFile);

/** Another process (a rebuild) fills generation 2 with one event and makes it the one readers use. */
async function flipInAnotherProcess(dataDir: string): Promise<void> {
  const store = new URL('../../../src/projections/readModelStore.ts', import.meta.url).href;
  const script = `
    const { ReadModelStore } = await import(${JSON.stringify(store)});
    const b = ReadModelStore.open(${JSON.stringify(dataDir)});
    const t = b.tables(2);
    const event = { id: 'e1', job_id: 'job_1', seq: 0, position: '7', ts: '2026-12-02T00:00:00.000Z', type: 'job_created', stage: null, status: 'queued', message: 'm', payload: {}, actor: 'a' };
    await t.events.put(['job_1', 0], JSON.stringify(event));
    await t.positions.put('00000000000000000007', ['job_1', 0, 'job_created']);
    await t.searchPostings.put(['type', 'job_created', '00000000000000000007'], '00000000000000000007');
    await t.checkpoints.put('search_index', '2');
    await t.checkpoints.put('readmodel', '7');
    await b.activateGeneration(2);
    await b.close();`;
  await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
}

test('readers open a generation before their transaction: a fresh read model, and one another process flipped, answer instead of failing with EINVAL', async (t) => {
  const { store, dir } = await tempReadModel(t, 'operator-reads-');
  const readModel = new ReadModel(store);
  const search = new EventSearch(store);
  // nothing projected yet, no projection in this process: the tables are opened by the read itself
  t.deepEqual(readModel.eventsAfterPosition(null, 10).events, []);
  t.deepEqual(search.search({ types: ['job_created'], limit: 5 }).events, []);

  await flipInAnotherProcess(dir);
  t.is(store.generation(), 2);
  const [json] = readModel.eventsAfterPosition(null, 10).events;
  t.is(JSON.parse(json as string).job_id, 'job_1');
  t.is(search.search({ types: ['job_created'], limit: 5 }).events.length, 1);
});
