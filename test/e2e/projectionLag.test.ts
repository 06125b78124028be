import test from 'ava';
import { JobTraffic } from '../helpers/jobTraffic.ts';
import { json, startTestServer } from '../helpers/testServer.ts';

test('a projection lag past the readiness cap is reported exactly by the metric and /status/ops; /readyz still stops counting at its bound', async (t) => {
  const server = await startTestServer();
  t.teardown(() => server.stop());
  const { deps } = server;
  // The API is told the projections stopped here, as a stalled projection would leave them (the real
  // ones go on applying what follows).
  const pinned = await deps.projections.checkpoint();
  const real = deps.projections;
  deps.projections = {
    waitForPosition: (position, timeoutMs) => real.waitForPosition(position, timeoutMs),
    onApplied: (listener) => real.onApplied(listener),
    checkpoint: async () => pinned,
  };
  await new JobTraffic(deps.store).runMany({ jobs: 150, concurrency: 10 });
  let expected = 0;
  for await (const e of deps.store.readAll({ filter: { streamNamePrefix: ['job-'] } }))
    if (pinned === null || BigInt(e.position) > BigInt(pinned)) expected++;
  t.true(expected > 1001, `${expected} job events behind`);

  const metrics = await (await fetch(`${server.url}/api/v1/metrics`)).text();
  const metric = /^operator_projection_lag_events\{projection="all"\} (\d+)$/m.exec(metrics)?.[1];
  t.is(Number(metric), expected, 'operator_projection_lag_events');
  const ops = await json<{ projections: { lag_events: number } }>(await server.api('/status/ops'));
  t.is(ops.projections.lag_events, expected, '/status/ops lag_events');

  // More arrive: counted on from the last count, still exact.
  await new JobTraffic(deps.store).runMany({ jobs: 10, concurrency: 5, prefix: 'late' });
  let more = 0;
  for await (const _ of deps.store.readAll({ filter: { streamNamePrefix: ['job-late'] } })) more++;
  const again = await json<{ projections: { lag_events: number } }>(await server.api('/status/ops'));
  t.is(again.projections.lag_events, expected + more);

  const ready = await fetch(`${server.url}/api/v1/readyz`);
  t.is(ready.status, 503);
  t.like(await json(ready), {
    error: { code: 'not_ready', message: 'projections are more than 1000 events behind the store' },
  });
});
