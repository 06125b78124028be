import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import {
  ARCHIVE_DIR,
  archivePath,
  isUnsafePathNameError,
  listFiles,
  listJobDirs,
  runPaths,
  STAGING_DIR,
  stagePaths,
  stagingDir,
} from '../../../../src/infra/files/runsLayout.ts';

test('the files of a job and of its stages', (t) => {
  const paths = runPaths('/srv/runs', 'j_1');
  t.is(paths.dir, '/srv/runs/j_1');
  t.is(paths.events, '/srv/runs/j_1/events.jsonl');
  t.is(paths.state, '/srv/runs/j_1/state.json');
  t.is(paths.gate('review'), '/srv/runs/j_1/gates/review.json');
  t.is(paths.stageLog('build'), '/srv/runs/j_1/logs/build.log');
  const stage = stagePaths('/srv/runs', 'j_1', 'build');
  t.is(stage.log, paths.stageLog('build'), 'the runner and the projection agree on the log file');
  t.is(stage.pidFile, '/srv/runs/j_1/logs/build.pid');
  t.is(stage.reaperNotes, '/srv/runs/j_1/logs/build.reaper.log');
  t.is(stage.paramsFile, '/srv/runs/j_1/params.json');
  t.is(stage.workDir, '/srv/runs/j_1/work');
  t.is(archivePath('/srv/runs', 'j_1'), `/srv/runs/${ARCHIVE_DIR}/j_1.tar.gz`);
  t.is(stagingDir('/srv/runs'), `/srv/runs/${STAGING_DIR}`);
});

test('a name that could escape the runs dir never becomes a path', (t) => {
  for (const bad of ['..', '../x', 'a/b', '', '.rebuild'])
    t.true(
      isUnsafePathNameError(t.throws(() => runPaths('/srv/runs', bad))),
      `job id ${JSON.stringify(bad)}`,
    );
  const paths = runPaths('/srv/runs', 'j_1');
  t.like(
    t.throws(() => paths.gate('../state')),
    { code: 'unsafe_path_name', details: { gate: '../state' } },
  );
  t.like(
    t.throws(() => paths.stageLog('a/b')),
    { details: { stage: 'a/b' } },
  );
  t.like(
    t.throws(() => stagePaths('/srv/runs', 'j_1', '..')),
    { details: { stage: '..' } },
  );
});

test('listJobDirs lists job directories only: not the archive, the staging dir or stray files', async (t) => {
  const runs = await mkdtemp(join(tmpdir(), 'operator-layout-'));
  t.teardown(() => rm(runs, { recursive: true, force: true }));
  t.deepEqual(await listJobDirs(join(runs, 'missing')), []);
  for (const dir of ['b', 'a', ARCHIVE_DIR, STAGING_DIR]) await mkdir(join(runs, dir));
  await writeFile(join(runs, 'c'), '');
  t.deepEqual(await listJobDirs(runs), ['a', 'b']);
  await mkdir(runPaths(runs, 'a').logsDir);
  await writeFile(join(runPaths(runs, 'a').logsDir, 'x.pid'), '');
  await writeFile(join(runPaths(runs, 'a').logsDir, 'x.log'), '');
  t.deepEqual(await listFiles(runPaths(runs, 'a').logsDir, '.pid'), ['x.pid']);
  t.deepEqual(await listFiles(runPaths(runs, 'b').logsDir, '.pid'), [], 'no logs dir: nothing');
});
