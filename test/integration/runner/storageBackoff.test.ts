import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test from 'ava';
import { pipelineDefinition } from '../../../src/infra/config/loadConfig.ts';
import type { EventStore } from '../../../src/infra/eventstore/eventStore.ts';
import { JobCommandHandler } from '../../../src/infra/eventstore/jobCommandHandler.ts';
import { createLogger } from '../../../src/infra/logging/logger.ts';
import { PipelineRunner } from '../../../src/runner/index.ts';
import { MemoryEventStore } from '../../helpers/memoryEventStore.ts';
import { manualClock, waitFor } from '../../helpers/runnerHarness.ts';
import { testConfig } from '../../helpers/testServer.ts';

/**
 * A full disk: the runner's commands are refused (ENOSPC) until space comes back. It waits 1 s, 2 s, 4 s ...
 * up to 60 s between tries (the runner clock's timers), logs one line per step rather than one per try, and
 * carries on (and says so once) when writes succeed again.
 */
test('storage backoff: the runner retries a full store at 1s doubling to 60s, one error line per step', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'operator-backoff-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = testConfig(dir, {
    pipelines: { external: { stages: [{ name: 'ingest' }, { name: 'publish' }] } },
    pipeline: { default: 'external' },
  });
  const lines: { level: number; msg: string; retry_in_ms?: number }[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk, _enc, done) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        done();
      },
    }),
  });
  const memory = new MemoryEventStore();
  let full = false;
  let refused = 0;
  const store = new Proxy(memory, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === 'append')
        return async (...args: Parameters<EventStore['append']>) => {
          if (!full) return target.append(...args);
          refused++;
          throw Object.assign(new Error("ENOSPC: no space left on device, write '/data/store'"), {
            code: 'ENOSPC',
          });
        };
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as EventStore;
  const commands = new JobCommandHandler(store, { maxEventsPerJob: 1000 });
  const pipeline = pipelineDefinition(config, 'external');
  if (!pipeline) throw new Error('no pipeline');
  const clock = manualClock();
  const waits: number[] = [];
  const recording = {
    ...clock,
    setTimer(ms: number, fn: () => void) {
      waits.push(ms);
      return clock.setTimer(ms, fn);
    },
  };
  await commands.handle('j_full', {
    type: 'create_job',
    job_id: 'j_full',
    pipeline,
    params: {},
    actor: 'alice',
    ts: clock.now().toISOString(),
  });
  full = true;
  const runner = new PipelineRunner({ store, commands, config, logger, clock: recording });
  t.teardown(() => runner.stop());
  runner.start();

  const expected = [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000];
  for (const [i, wait] of expected.entries()) {
    await waitFor(`wait ${i + 1}`, () => waits.length > i);
    t.is(waits[i], wait, `wait ${i + 1}`);
    t.is(refused, i + 1, 'one try per wait');
    clock.advance(wait);
  }
  await waitFor('the tenth refusal', () => refused === expected.length + 1);
  const steps = lines.filter((l) => l.msg.startsWith('runner: the store is out of space'));
  t.deepEqual(
    steps.map((l) => l.retry_in_ms),
    [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000],
    'one line per step, none while the wait stays at 60 s',
  );
  t.true(steps.every((l) => l.level === 50));
  t.is(lines.filter((l) => l.level >= 50).length, steps.length, 'no other error line for the refused tries');

  full = false;
  clock.advance(60_000);
  await waitFor('the job to start', async () => (await commands.load('j_full')).status === 'running');
  await waitFor('the recovery line', () =>
    lines.some((l) => l.msg === 'runner: the store accepts writes again'),
  );
  t.is(lines.filter((l) => l.msg === 'runner: the store accepts writes again').length, 1);
});
