import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { ReadModelStore } from '../../../src/projections/index.ts';
import { advance, CliProcess, cliWorld, runCli, settle } from '../../helpers/cli.ts';
import { JobTraffic } from '../../helpers/jobTraffic.ts';
import { generationRows, readTree } from '../../helpers/projectionHarness.ts';

/**
 * The read model as readers and the live projections see it: the active generation, a digest and count of
 * each of its tables, and the live checkpoints (a rebuild's own `rebuild:*` keys are not read by anyone).
 */
async function readModelSnapshot(dataDir: string): Promise<Record<string, unknown>> {
  const rms = ReadModelStore.open(dataDir);
  try {
    const generation = rms.generation();
    const tables: Record<string, string> = {};
    for (const [name, rows] of Object.entries(generationRows(rms.tables(generation)))) {
      const hash = createHash('sha256');
      for (const row of rows) hash.update(row);
      tables[name] = `${rows.length} rows, sha256 ${hash.digest('hex')}`;
    }
    const checkpoints = [...rms.checkpoints.db.getRange({})]
      .filter(({ key }) => !String(key).startsWith('rebuild:'))
      .map(({ key, value }) => `${String(key)}=${value}`);
    return { generation, checkpoints, tables };
  } finally {
    await rms.close();
  }
}

/** Rows the rebuild has committed so far into a generation of the read model (its `events` table). */
async function committedEvents(dataDir: string, generation: number): Promise<number> {
  const rms = ReadModelStore.open(dataDir);
  try {
    return rms.tables(generation).events.getKeysCount();
  } finally {
    await rms.close();
  }
}

/** Job dirs the rebuild has staged so far (with an `events.jsonl`). */
function stagedJobs(runsDir: string): number {
  const staging = join(runsDir, '.rebuild');
  if (!existsSync(staging)) return 0;
  return readdirSync(staging).filter((id) => existsSync(join(staging, id, 'events.jsonl'))).length;
}

test('kill -9 in the middle of a rebuild: the live projections are untouched, verify is clean, the next rebuild succeeds', async (t) => {
  t.timeout(180_000);
  const world = await cliWorld();
  t.teardown(() => world.cleanup());
  const server = await world.start();
  for (const [i, to] of (['completed', 'paused', 'running', 'canceled'] as const).entries())
    await advance(world, `crash-${i}`, to);
  // Enough of a log that the rebuild is still building long after its first files are staged: the kill
  // comes at 150 of 754 jobs, and the rebuild commits its read model rows every 50 events (--batch-size).
  await new JobTraffic(server.deps.store).runMany({ jobs: 750, concurrency: 32, prefix: 'k' });
  // 6.5k events through the live projections, each batch fsynced: on a busy machine, more than one wait.
  for (let wait = 1; ; wait++) {
    try {
      await settle(world);
      break;
    } catch (error) {
      if (wait === 6) throw error;
    }
  }
  await world.stop();
  const runs = world.config.storage.runs_dir;
  const filesBefore = await readTree(runs);
  const readModelBefore = await readModelSnapshot(world.config.storage.data_dir);

  const rebuild = new CliProcess(world.local('projections', 'rebuild', '--all', '--batch-size', '50'));
  // The read model thread is at most two batches behind the files: by then it has committed rows too.
  await rebuild.waitFor(() => stagedJobs(runs) >= 150, 60_000);
  rebuild.child.kill('SIGKILL');
  const killed = await rebuild.exited;
  t.is(rebuild.child.signalCode, 'SIGKILL', killed.stdout + killed.stderr);
  t.is(killed.stdout, '', 'killed before it reported a swap');
  t.true(stagedJobs(runs) < 754, 'killed while building');
  t.true(
    (await committedEvents(world.config.storage.data_dir, 2)) > 0,
    'killed while writing read model rows',
  );

  // Nothing live moved: every job file, every read model row and checkpoint, the active generation.
  const filesAfter = await readTree(runs);
  for (const path of filesAfter.keys()) if (path.startsWith('.rebuild/')) filesAfter.delete(path);
  t.deepEqual([...filesAfter.keys()], [...filesBefore.keys()]);
  t.true(
    [...filesBefore].every(([path, content]) => filesAfter.get(path) === content),
    'every live file has its old bytes',
  );
  t.deepEqual(await readModelSnapshot(world.config.storage.data_dir), readModelBefore);

  const verify = await runCli(world.local('projections', 'verify'));
  t.is(verify.code, 0, verify.stdout + verify.stderr);
  t.regex(verify.stdout, /^verify: clean \(754 jobs,/);

  // The dead rebuild's lease does not block the next one (its pid is gone), which empties what it left.
  const again = await runCli(world.local('projections', 'rebuild', '--all'), { timeoutMs: 120_000 });
  t.is(again.code, 0, again.stdout + again.stderr);
  t.regex(again.stdout, /754 job\(s\), 0 with files replaced, read model generation 2;/);
  t.false(existsSync(join(runs, '.rebuild')));
  const after = await runCli(world.local('projections', 'verify'));
  t.is(after.code, 0, after.stdout + after.stderr);
  t.regex(after.stdout, /^verify: clean \(754 jobs,/);
  t.deepEqual(await readTree(runs), filesBefore);
  // Row for row what the live projections had written: the rebuild after a crash is a whole one.
  const rebuilt = await readModelSnapshot(world.config.storage.data_dir);
  t.is(rebuilt.generation, 2);
  t.deepEqual(rebuilt.tables, readModelBefore.tables);
});
