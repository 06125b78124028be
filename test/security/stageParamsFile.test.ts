import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { JOB_PARAMS_ENV_MAX_BYTES } from '../../src/runner/stageCommands.ts';
import { createJob, ended, waitForEvents } from '../helpers/runnerHarness.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { startTestServer } from '../helpers/testServer.ts';

/**
 * Door: stage processes, params size. Params travel in a file (`$JOB_PARAMS_FILE`, `runs/<id>/params.json`,
 * 0600), and in `$JOB_PARAMS` only while small: any params the API accepts can run, without `spawn E2BIG`.
 */

let server: TestServer;

test.before(async () => {
  server = await startTestServer(
    {
      pipeline: { default: 'reader' },
      pipelines: {
        reader: {
          stages: [
            {
              name: 'read',
              run: [
                `env | grep -q '^JOB_PARAMS=' && echo "env set" || echo "env"`,
                'echo "file $JOB_PARAMS_FILE"',
                'echo "bytes $(wc -c < "$JOB_PARAMS_FILE")"',
                'echo "sha $(sha256sum < "$JOB_PARAMS_FILE" | cut -c1-64)"',
              ].join('\n'),
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

async function logLine(jobId: string, key: string): Promise<string | undefined> {
  const text = await (await server.api(`/jobs/${jobId}/stages/read/log`)).text();
  return new RegExp(`^\\S+ stdout ${key} ?(.*)$`, 'm').exec(text)?.[1];
}

test('params file: 60 KiB of params run; the stage reads them whole from $JOB_PARAMS_FILE, JOB_PARAMS unset', async (t) => {
  const params = { blob: 'p'.repeat(60 * 1024 - 20), n: 1 };
  const json = JSON.stringify(params);
  t.true(Buffer.byteLength(json) > 60 * 1000 && Buffer.byteLength(json) <= 60 * 1024);
  const jobId = await createJob(server, 'reader', params);
  const events = await waitForEvents(server, jobId, 'the job to end', ended);
  t.is(events.at(-1)?.type, 'job_completed', JSON.stringify(events.at(-1)));
  const file = join(server.config.storage.runs_dir, jobId, 'params.json');
  t.is(await logLine(jobId, 'file'), file);
  t.is(await logLine(jobId, 'env'), '', 'JOB_PARAMS is not set for params this large');
  t.is(await logLine(jobId, 'bytes'), String(Buffer.byteLength(json)));
  t.is(await logLine(jobId, 'sha'), createHash('sha256').update(json).digest('hex'));
  t.deepEqual(JSON.parse(await readFile(file, 'utf8')), params);
  t.is((await stat(file)).mode & 0o777, 0o600);
});

test(`params file: small params (<= ${JOB_PARAMS_ENV_MAX_BYTES} bytes) are in the file and in JOB_PARAMS`, async (t) => {
  const jobId = await createJob(server, 'reader', { size: 'small' });
  const events = await waitForEvents(server, jobId, 'the job to end', ended);
  t.is(events.at(-1)?.type, 'job_completed');
  t.is(await logLine(jobId, 'env'), 'set');
  t.is(await logLine(jobId, 'sha'), createHash('sha256').update('{"size":"small"}').digest('hex'));
});
