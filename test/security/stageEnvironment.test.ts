import test from 'ava';
import { createJob, ended, waitForEvents } from '../helpers/runnerHarness.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { startTestServer } from '../helpers/testServer.ts';

/**
 * Door: stage processes. A stage command gets an explicit environment, never the server's own: PATH, HOME,
 * LANG, the job variables, its stage's `env` and the names `runner.env_passthrough` lists. The server's
 * secrets (a store connection string, a token in the environment) do not reach it.
 */

/** Variables `/bin/sh` itself sets or exports in every command it runs; not the runner's doing. */
const SHELL_OWN = new Set(['PWD', 'OLDPWD', 'SHLVL', '_']);

let server: TestServer;

test.before(async () => {
  process.env['EVENTSTORE_CONNECTION_STRING'] = 'esdb://admin:secret-x@store:2113';
  process.env['OPERATOR_SECRET_Y'] = 'secret-y-value';
  process.env['OPERATOR_PASSED_Z'] = 'passed-z-value';
  server = await startTestServer(
    {
      runner: { env_passthrough: ['OPERATOR_PASSED_Z', 'NOT_SET_ANYWHERE'] },
      pipeline: { default: 'dump' },
      pipelines: { dump: { stages: [{ name: 'env', env: { STAGE_OWN: 'own-value' }, run: 'env' }] } },
    },
    { runner: true },
  );
});

test.after.always(async () => {
  await server?.stop();
});

/** NAME=value pairs a stage printed with `env`, from its log over the API. */
async function stageEnv(jobId: string, stage: string): Promise<Map<string, string>> {
  const res = await server.api(`/jobs/${jobId}/stages/${stage}/log`);
  const text = await res.text();
  const env = new Map<string, string>();
  for (const m of text.matchAll(/^\S+ stdout ([A-Za-z_][A-Za-z0-9_]*)=(.*)$/gm))
    env.set(m[1] as string, m[2] as string);
  return env;
}

test('stage environment: only PATH, HOME, LANG, the job variables, the stage env and env_passthrough names', async (t) => {
  const jobId = await createJob(server, 'dump', { size: 'small' });
  const events = await waitForEvents(server, jobId, 'the job to end', ended);
  t.is(events.at(-1)?.type, 'job_completed');
  const env = await stageEnv(jobId, 'env');
  const names = [...env.keys()].filter((n) => !SHELL_OWN.has(n)).sort();
  t.deepEqual(names, [
    'HOME',
    'JOB_ID',
    'JOB_PARAMS',
    'JOB_PARAMS_FILE',
    'LANG',
    'OPERATOR_PASSED_Z',
    'PATH',
    'RUN_DIR',
    'STAGE',
    'STAGE_ATTEMPT',
    'STAGE_OWN',
  ]);
  t.is(env.get('OPERATOR_PASSED_Z'), 'passed-z-value', 'a listed name is passed through');
  t.is(env.get('STAGE_OWN'), 'own-value');
  t.is(env.get('JOB_ID'), jobId);
  t.is(env.get('PATH'), process.env['PATH']);
  t.is(env.get('JOB_PARAMS'), '{"size":"small"}');

  const log = await (await server.api(`/jobs/${jobId}/stages/env/log`)).text();
  for (const secret of ['secret-x', 'secret-y-value', 'EVENTSTORE_CONNECTION_STRING', 'OPERATOR_SECRET_Y'])
    t.false(log.includes(secret), `${secret} must not reach the stage`);
});
