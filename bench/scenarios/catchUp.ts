import { join } from 'node:path';
import { jobStreamName } from '../../src/infra/eventstore/eventStore.ts';
import { openLmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';
import { AUTH, benchDir } from '../lib/benchConfig.ts';
import { startBenchServer } from '../lib/children.ts';
import { seedCycleJob } from '../lib/cycleJob.ts';
import type { ScenarioOptions, ScenarioOutput } from '../lib/scenario.ts';
import { readSse } from '../lib/sseReader.ts';

const JOB = 'catchup';

/**
 * A client joins a 100k-event job at its start (`?after=-1`) and reads until caught up: the job is
 * finished, so the stream ends with `event: end` right after its last event. Baseline: the store's raw
 * readStream of the same range, in one process, nothing sent anywhere.
 */
export async function catchUpScenario(options: ScenarioOptions): Promise<ScenarioOutput> {
  const total = options.quick ? 20_000 : 100_000;
  const dir = await benchDir('catchup', { maxEventsPerJob: total * 2 });
  try {
    const store = await openLmdbEventStore({ path: join(dir.dataDir, 'store') });
    let baselineMs: number;
    let written: number;
    try {
      written = (await seedCycleJob(store, JOB, total, { finish: true })).events;
      const read = async () => {
        const t0 = performance.now();
        let n = 0;
        for await (const _ of store.readStream(jobStreamName(JOB))) n++;
        if (n !== written) throw new Error(`readStream returned ${n} of ${written} events`);
        return performance.now() - t0;
      };
      await read();
      baselineMs = await read();
    } finally {
      await store.close();
    }
    options.log(`seeded ${written} events; raw readStream ${baselineMs.toFixed(0)} ms`);
    const server = await startBenchServer(dir, options.serverNodeArgs);
    try {
      const t0 = performance.now();
      await server.child.request('waitProjections', { timeoutMs: 300_000 }, 310_000);
      options.log(
        `projections caught up with the seeded job in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      const url = `${server.url}/api/v1/jobs/${JOB}/events/stream?after=-1`;
      const first = await readSse(url, AUTH, { timeoutMs: 120_000 });
      const second = await readSse(url, AUTH, { timeoutMs: 120_000 });
      for (const r of [first, second])
        if (r.events !== written || !r.ended)
          throw new Error(`client got ${r.events} of ${written} events (ended: ${r.ended})`);
      options.log(
        `client caught up (event: end after ${first.events} events) in ${first.totalMs.toFixed(0)} ms; again: ${second.totalMs.toFixed(0)} ms`,
      );
      return {
        rows: [
          {
            scenario: `catch-up: client joins at position 0 of a ${(written / 1000).toFixed(0)}k-event job, until caught up`,
            figure: first.totalMs / 1000,
            unit: 's',
            baseline: baselineMs / 1000,
            baselineLabel: 'raw readStream, same range',
            target: '< 2 s',
            met: first.totalMs < 2000,
            notes: `${Math.round(written / (first.totalMs / 1000)).toLocaleString('en-US')} events/s over SSE; a second client: ${(second.totalMs / 1000).toFixed(2)} s; first byte after ${first.firstByteMs.toFixed(0)} ms${options.quick ? ' (--quick: smaller job)' : ''}`,
          },
        ],
        details: { written, baselineMs, first, second },
      };
    } finally {
      await server.child.stop();
    }
  } finally {
    await dir.remove();
  }
}
