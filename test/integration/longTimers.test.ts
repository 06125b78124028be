import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { OutboundPolicy } from '../../src/infra/net/outboundPolicy.ts';
import { sendWebhook } from '../../src/webhooks/sendWebhook.ts';
import { createJob, ended, typesOf, waitForEvents } from '../helpers/runnerHarness.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { startTestServer } from '../helpers/testServer.ts';

// Durations past setTimeout's limit (2^31 - 1 ms, about 24.8 days), which fires such a timer after 1 ms.
let server: TestServer;

test.before(async () => {
  server = await startTestServer(
    {
      pipeline: { default: 'long', lanes: 4, stage_kill_grace: '25d' },
      pipelines: {
        long: { stages: [{ name: 'work', timeout: '25d', run: 'sleep 0.3; echo finished' }] },
        graceful: {
          stages: [
            {
              name: 'tidy',
              timeout: '300ms',
              // Takes its time to end after SIGTERM: a grace of 25 days lets it.
              run: 'trap \'echo "cleaning up"; sleep 0.3; echo "cleaned up"; exit 0\' TERM; sleep 30 & wait',
            },
          ],
        },
      },
    },
    { runner: true },
  );
});

test.after.always(async () => {
  await server?.stop();
});

test('a stage with a 25d timeout runs to its natural end', async (t) => {
  const jobId = await createJob(server, 'long');
  const events = await waitForEvents(server, jobId, 'the job to end', ended);
  t.deepEqual(typesOf(events), [
    'job_created',
    'job_started',
    'stage_started',
    'stage_completed',
    'job_completed',
  ]);
  const log = await (await server.api(`/jobs/${jobId}/stages/work/log`)).text();
  t.regex(log, /stdout finished/);
});

test('a 25d kill grace: SIGTERM at the timeout, and no SIGKILL while the stage ends itself', async (t) => {
  const jobId = await createJob(server, 'graceful');
  const events = await waitForEvents(server, jobId, 'the job to end', ended);
  const failed = events.find((e) => e.type === 'stage_failed');
  t.is(failed?.payload['reason'], 'timed out after 300ms');
  t.not(failed?.payload['signal'], 'SIGKILL');
  const log = await (await server.api(`/jobs/${jobId}/stages/tidy/log`)).text();
  t.regex(log, /SIGTERM to process group \d+, SIGKILL after 600h 00m/);
  t.regex(log, /stdout cleaned up/);
});

test('a webhook attempt with a 25d timeout waits for a slow answer', async (t) => {
  const receiver = createServer((_req, res) => {
    setTimeout(() => res.end('ok'), 200);
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  t.teardown(() => receiver.close());
  const { port } = receiver.address() as AddressInfo;
  const result = await sendWebhook(new URL(`http://127.0.0.1:${port}/hook`), {}, '{}', {
    timeoutMs: 25 * 86_400_000,
    policy: new OutboundPolicy(['127.0.0.1']),
    ownPort: () => null,
  });
  t.is(result.status_code, 200);
  t.is(result.error, null);
});
