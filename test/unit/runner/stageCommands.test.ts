import test from 'ava';
import type { JobState } from '../../../src/domain/jobState.ts';
import type { StageDefinition } from '../../../src/domain/pipeline.ts';
import { stagePaths } from '../../../src/infra/files/runsLayout.ts';
import {
  JOB_PARAMS_ENV_MAX_BYTES,
  serverEnvironment,
  stageEnvironment,
} from '../../../src/runner/stageCommands.ts';

const paths = stagePaths('/srv/runs', 'j_1', 'build');
const state = { job_id: 'j_1' } as JobState;
const stage = (env: Record<string, string> = {}) => ({ name: 'build', env }) as unknown as StageDefinition;

test('serverEnvironment takes PATH, HOME, LANG and the listed names only; defaults when the server has none', (t) => {
  const server = { PATH: '/opt/bin', HOME: '/home/op', LANG: 'de_DE.UTF-8', SECRET: 's', TZ: 'UTC' };
  t.deepEqual(serverEnvironment(server, ['TZ', 'MISSING']), {
    PATH: '/opt/bin',
    HOME: '/home/op',
    LANG: 'de_DE.UTF-8',
    TZ: 'UTC',
  });
  const bare = serverEnvironment({}, []);
  t.is(bare['PATH'], '/usr/local/bin:/usr/bin:/bin');
  t.is(bare['LANG'], 'C.UTF-8');
  t.true((bare['HOME'] ?? '').length > 0);
  t.deepEqual(Object.keys(bare).sort(), ['HOME', 'LANG', 'PATH']);
});

test('stageEnvironment: the job variables win over the stage env; JOB_PARAMS only up to the threshold', (t) => {
  const small = JSON.stringify({ a: 'x'.repeat(JOB_PARAMS_ENV_MAX_BYTES - 8) }); // exactly the threshold
  t.is(Buffer.byteLength(small), JOB_PARAMS_ENV_MAX_BYTES);
  const env = stageEnvironment({ PATH: '/bin' }, state, stage({ JOB_ID: 'spoof', X: '1' }), 2, paths, small);
  t.is(env['JOB_ID'], 'j_1');
  t.is(env['X'], '1');
  t.is(env['STAGE_ATTEMPT'], '2');
  t.is(env['JOB_PARAMS'], small);
  t.is(env['JOB_PARAMS_FILE'], '/srv/runs/j_1/params.json');
  const large = JSON.stringify({ a: 'x'.repeat(JOB_PARAMS_ENV_MAX_BYTES - 7) });
  const without = stageEnvironment({ PATH: '/bin' }, state, stage(), 1, paths, large);
  t.false('JOB_PARAMS' in without);
  t.is(without['JOB_PARAMS_FILE'], '/srv/runs/j_1/params.json');
});
