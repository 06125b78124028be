import { randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import type { JobCommand } from '../../../src/domain/commands.ts';
import type { StageLogRecord } from '../../../src/domain/logRecord.ts';
import { formatLogLine, recordEnd } from '../../../src/domain/logRecord.ts';
import type { PipelineDefinition } from '../../../src/domain/pipeline.ts';
import { JobCommandHandler } from '../../../src/infra/eventstore/jobCommandHandler.ts';
import { openLmdbEventStore } from '../../../src/infra/eventstore/lmdb/index.ts';
import { logStreamName, toLogEventData } from '../../../src/infra/eventstore/stageLogStreams.ts';
import { cliWorld, runCli } from '../../helpers/cli.ts';

/**
 * `operator projections rebuild` rewrites stage log files from the store's log records, which lie between
 * the job events in the log. A rebuild fed a chunk's events before its log records moved the log
 * projection's checkpoint past them and wrote no log at all: it emptied the live files at the swap.
 */

const PIPELINE: PipelineDefinition = {
  name: 'worked',
  stages: [{ name: 'render', retries: 0, env: {} }],
};

test('rebuild: every stage log file comes back byte for byte from the store (all projections, logs alone, a deleted and a damaged file)', async (t) => {
  t.timeout(90_000);
  const world = await cliWorld({
    pipelines: { worked: { stages: [{ name: 'render' }] } },
    pipeline: { default: 'worked', lanes: 10 },
  });
  t.teardown(() => world.stop());
  const store = await openLmdbEventStore({ path: join(world.dir, 'data', 'store') });
  const commands = new JobCommandHandler(store, { maxEventsPerJob: 1000 });
  const expected = new Map<string, string>();
  const jobs = ['lg1', 'lg2', 'lg3'];
  const run = (jobId: string, command: Record<string, unknown>) =>
    commands.handle(jobId, {
      ...command,
      actor: 'test',
      ts: new Date().toISOString(),
    } as unknown as JobCommand);
  const started = new Map<string, number>();
  for (const jobId of jobs) {
    await run(jobId, { type: 'create_job', job_id: jobId, pipeline: PIPELINE, params: {} });
    await run(jobId, { type: 'start_job' });
    const result = await run(jobId, { type: 'start_stage', stage: 'render' });
    started.set(jobId, (result.events.at(-1) as { seq: number }).seq);
    expected.set(jobId, '');
  }
  // Log records of the three jobs in turn, job events between them.
  const offsets = new Map(jobs.map((j) => [j, 0]));
  for (let round = 0; round < 4; round++)
    for (const jobId of jobs) {
      const record: StageLogRecord = {
        job_id: jobId,
        stage: 'render',
        attempt: 1,
        started_seq: started.get(jobId) as number,
        offset: offsets.get(jobId) as number,
        lines: Array.from({ length: 3 }, (_, i) => ({
          ts: new Date().toISOString(),
          stream: 'stdout' as const,
          text: `${jobId} round ${round} line ${i}`,
        })),
      };
      await store.append(logStreamName(jobId, 'render', record.started_seq), [
        toLogEventData(record, randomUUID()),
      ]);
      offsets.set(jobId, recordEnd(record));
      expected.set(jobId, expected.get(jobId) + record.lines.map(formatLogLine).join(''));
    }
  for (const jobId of jobs) await run(jobId, { type: 'complete_stage', stage: 'render' });
  await store.close();

  const logFile = (jobId: string) => join(world.dir, 'runs', jobId, 'logs', 'render.log');
  const logsAreBack = async (when: string) => {
    for (const jobId of jobs)
      t.is(await readFile(logFile(jobId), 'utf8'), expected.get(jobId) as string, `${jobId} ${when}`);
    const verify = await runCli(world.local('projections', 'verify'));
    t.is(verify.code, 0, `${when}: ${verify.stdout}`);
  };
  const all = await runCli(world.local('projections', 'rebuild', '--all'));
  t.is(all.code, 0, all.stderr);
  await logsAreBack('after rebuild --all');
  await rm(logFile('lg1'));
  await writeFile(logFile('lg2'), 'garbage\n');
  const logs = await runCli(world.local('projections', 'rebuild', 'logs'));
  t.is(logs.code, 0, logs.stderr);
  t.regex(
    logs.stdout,
    /^rebuilt logs up to position \d+ .*; 3 job\(s\), 2 with files replaced; projections paused/,
  );
  await logsAreBack('after rebuild logs, one file deleted and one damaged');
});
