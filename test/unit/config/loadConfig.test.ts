import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { pipelineDefinitionSchema } from '../../../src/domain/pipeline.ts';
import type { ConfigError } from '../../../src/infra/config/loadConfig.ts';
import {
  isConfigError,
  loadConfig,
  pipelineDefinition,
  usesDefaultToken,
} from '../../../src/infra/config/loadConfig.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Directories the tests made, removed once they have all run. */
const made: string[] = [];
test.after.always(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'operator-config-'));
  made.push(dir);
  return dir;
}

/** A temp working directory holding `c.yaml` with `text`. */
function withFile(text: string): string {
  const cwd = tempDir();
  writeFileSync(join(cwd, 'c.yaml'), text);
  return cwd;
}

function configError(text: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  const cwd = withFile(text);
  let caught: unknown;
  try {
    loadConfig({ path: 'c.yaml', cwd, env });
  } catch (error) {
    caught = error;
  }
  if (!isConfigError(caught)) throw new Error(`expected a ConfigError, got ${String(caught)}`);
  return caught;
}

test('no file at the default path: built-in defaults, directories absolute under cwd', (t) => {
  const cwd = tempDir();
  const config = loadConfig({ cwd, env: {} });
  t.like(config, {
    server: { port: 8008, host: '127.0.0.1', log_level: 'info', cors_origins: [] },
    store: { kind: 'lmdb' },
    storage: {
      data_dir: join(cwd, 'data'),
      runs_dir: join(cwd, 'runs'),
      events_retention_days: 30,
      retention_action: 'delete',
      max_events_per_job: 1000,
    },
    streaming: { heartbeat_seconds: 5 },
    pipeline: { lanes: 1, gate_holds_lane: true },
  });
  t.deepEqual(config.auth.tokens, [{ name: 'admin', token: 'default-admin-token-change-me', role: 'admin' }]);
  t.deepEqual(config.pipelines, {});
  t.true(usesDefaultToken(config));
});

test('an empty file and sections left empty take the defaults', (t) => {
  t.is(loadConfig({ path: 'c.yaml', cwd: withFile('# nothing yet\n'), env: {} }).server.port, 8008);
  const config = loadConfig({ path: 'c.yaml', cwd: withFile('server:\npipelines:\n'), env: {} });
  t.is(config.server.port, 8008);
  t.deepEqual(config.pipelines, {});
});

test('the shipped conf/operator.yaml is valid and its demo pipeline shows gates, retries and env', (t) => {
  const config = loadConfig({ cwd: repoRoot, env: {} });
  t.is(config.pipeline.default, 'demo');
  t.true(usesDefaultToken(config));
  t.is(config.storage.data_dir, join(repoRoot, 'data'));

  const demo = pipelineDefinition(config, 'demo');
  if (!demo) return t.fail('demo pipeline missing');
  t.true(pipelineDefinitionSchema.safeParse(demo).success);
  t.deepEqual(
    demo.stages.map((s) => s.name),
    ['script', 'storyboard', 'render', 'publish'],
  );
  t.true(demo.stages.every((s) => typeof s.run === 'string'));
  const [script, storyboard, render, publish] = demo.stages;
  t.is(script?.gate, undefined);
  t.deepEqual(storyboard?.gate, { timeout: 600_000, on_timeout: 'wait', on_reject: 'rerun' });
  t.deepEqual(publish?.gate, { timeout: 1_800_000, on_timeout: 'reject', on_reject: 'fail' });
  t.is(render?.retries, 1);
  t.deepEqual(render?.env, { RENDER_QUALITY: 'draft' });
  for (const name of ['$JOB_ID', '$STAGE', '$RUN_DIR', '$JOB_PARAMS'])
    t.true(render?.run?.includes(name), name);

  const external = pipelineDefinition(config, 'external');
  t.true(external?.stages.every((s) => s.run === undefined));
  const quick = pipelineDefinition(config, 'quick');
  t.is(quick?.stages.length, 2);
  t.true(quick?.stages.every((s) => s.run !== undefined && s.gate === undefined));
});

test('pipelineDefinition: undefined for names that are not configured, prototype keys included', (t) => {
  const config = loadConfig({ cwd: repoRoot, env: {} });
  t.is(pipelineDefinition(config, 'nope'), undefined);
  t.is(pipelineDefinition(config, 'constructor'), undefined);
  t.is(pipelineDefinition(config, 'toString'), undefined);
});

test('every environment override is applied, over the file', (t) => {
  const cwd = withFile('server:\n  port: 9000\n  host: 127.0.0.1\npipeline:\n  lanes: 2\n');
  const config = loadConfig({
    path: 'c.yaml',
    cwd,
    env: {
      OPERATOR_PORT: '9100',
      OPERATOR_HOST: '::1',
      OPERATOR_LOG_LEVEL: 'debug',
      OPERATOR_DATA_DIR: 'var/data',
      OPERATOR_RUNS_DIR: '/srv/runs',
      OPERATOR_LANES: '4',
      OPERATOR_STORE: 'eventstoredb',
      EVENTSTORE_CONNECTION_STRING: 'esdb://localhost:2113?tls=false',
      OPERATOR_HEARTBEAT_SECONDS: '0.5',
    },
  });
  t.is(config.server.port, 9100);
  t.is(config.server.host, '::1');
  t.is(config.server.log_level, 'debug');
  t.is(config.storage.data_dir, join(cwd, 'var/data'));
  t.is(config.storage.runs_dir, '/srv/runs');
  t.is(config.pipeline.lanes, 4);
  t.is(config.store.kind, 'eventstoredb');
  t.is(config.store.connection_string, 'esdb://localhost:2113?tls=false');
  t.is(config.streaming.heartbeat_seconds, 0.5);
});

test('empty environment values count as unset', (t) => {
  const config = loadConfig({ cwd: tempDir(), env: { OPERATOR_PORT: '', OPERATOR_CONFIG: '' } });
  t.is(config.server.port, 8008);
});

test('OPERATOR_CONFIG names the file; options.path wins over it', (t) => {
  const cwd = withFile('server:\n  port: 1234\n');
  mkdirSync(join(cwd, 'other'));
  writeFileSync(join(cwd, 'other/x.yaml'), 'server:\n  port: 4321\n');
  t.is(loadConfig({ cwd, env: { OPERATOR_CONFIG: 'c.yaml' } }).server.port, 1234);
  t.is(loadConfig({ path: 'other/x.yaml', cwd, env: { OPERATOR_CONFIG: 'c.yaml' } }).server.port, 4321);
  t.is(loadConfig({ path: join(cwd, 'c.yaml'), cwd: '/', env: {} }).server.port, 1234);
});

test('relative storage directories are resolved against cwd, absolute ones kept', (t) => {
  const cwd = withFile('storage:\n  data_dir: ./state/db\n  runs_dir: /var/lib/operator/runs\n');
  const config = loadConfig({ path: 'c.yaml', cwd, env: {} });
  t.is(config.storage.data_dir, join(cwd, 'state/db'));
  t.is(config.storage.runs_dir, '/var/lib/operator/runs');
});

test('a config file named explicitly must exist', (t) => {
  const cwd = tempDir();
  const fromOption = t.throws(() => loadConfig({ path: 'missing.yaml', cwd, env: {} }));
  t.true(isConfigError(fromOption));
  t.regex(fromOption?.message ?? '', /^missing\.yaml: file not found/);
  const fromEnv = t.throws(() => loadConfig({ cwd, env: { OPERATOR_CONFIG: 'gone.yaml' } }));
  t.regex(fromEnv?.message ?? '', /^gone\.yaml: file not found/);
});

test('ConfigError carries code invalid_config and the issues as data', (t) => {
  const error = configError('server:\n  port: abc\n');
  t.is(error.code, 'invalid_config');
  t.deepEqual(error.details, [
    { source: 'c.yaml', path: 'server.port', message: 'expected a number, got "abc"', line: 2 },
  ]);
  t.is(error.message, 'c.yaml: server.port: expected a number, got "abc" (line 2)');
});

const badFiles: [title: string, yaml: string, expected: string[]][] = [
  ['wrong type', 'server:\n  port: abc\n', ['c.yaml: server.port: expected a number, got "abc"']],
  ['out of range', 'server:\n  port: 70000\n', ['c.yaml: server.port: must be at most 65535, got 70000']],
  [
    'not a whole number',
    'pipeline:\n  lanes: 1.5\n',
    ['c.yaml: pipeline.lanes: expected a whole number, got 1.5'],
  ],
  [
    'yes is not a boolean',
    'pipeline:\n  gate_holds_lane: yes\n',
    ['c.yaml: pipeline.gate_holds_lane: expected true or false, got "yes"'],
  ],
  [
    'unknown enum value',
    'store:\n  kind: mongo\n',
    ['c.yaml: store.kind: expected one of lmdb, eventstoredb, got "mongo"'],
  ],
  [
    'unknown top-level key with a near match',
    'servr:\n  port: 1\n',
    ['c.yaml: servr: unknown key, did you mean "server"?'],
  ],
  [
    'unknown top-level key without a near match',
    'frobnicate: 1\n',
    [
      'c.yaml: frobnicate: unknown key (known keys: server, auth, store, storage, streaming, pipeline, pipelines, runner, webhooks)',
    ],
  ],
  ['unknown nested key', 'streaming:\n  heartbeat: 5\n', ['c.yaml: streaming.heartbeat: unknown key']],
  [
    'misspelt stage and gate keys',
    'pipelines:\n  p:\n    stages:\n      - name: a\n        retires: 2\n        gate:\n          on_timout: wait\n',
    [
      'c.yaml: pipelines.p.stages[0].retires: unknown key, did you mean "retries"?',
      'c.yaml: pipelines.p.stages[0].gate.on_timout: unknown key, did you mean "on_timeout"?',
    ],
  ],
  [
    'default names an unknown pipeline',
    'pipeline:\n  default: nope\npipelines:\n  a:\n    stages:\n      - name: x\n',
    ['c.yaml: pipeline.default: names no pipeline in pipelines: "nope" (defined: a)'],
  ],
  [
    'bad duration',
    'pipelines:\n  p:\n    stages:\n      - name: a\n        timeout: 10 minutes\n',
    [
      'c.yaml: pipelines.p.stages[0].timeout: expected a duration (500ms, 30s, 10m, 1h, 1d) or a number of milliseconds, got "10 minutes"',
    ],
  ],
  [
    'stage timeout 0 (it would kill every attempt at once)',
    'pipelines:\n  p:\n    stages:\n      - name: a\n        timeout: 0s\n      - name: b\n        timeout: 0\n',
    [
      'c.yaml: pipelines.p.stages[0].timeout: must be more than 0 (leave timeout out for no limit)',
      'c.yaml: pipelines.p.stages[1].timeout: must be more than 0 (leave timeout out for no limit)',
    ],
  ],
  [
    'gate timeout 0 (an approve or reject on timeout would decide the gate as it pauses: no person could)',
    'pipelines:\n  p:\n    stages:\n      - name: a\n        gate: { timeout: 0s, on_timeout: approve }\n      - name: b\n        gate: { timeout: 0 }\n',
    [
      'c.yaml: pipelines.p.stages[0].gate.timeout: must be more than 0 (leave timeout out to wait for a person with no deadline)',
      'c.yaml: pipelines.p.stages[1].gate.timeout: must be more than 0 (leave timeout out to wait for a person with no deadline)',
    ],
  ],
  [
    'retry delay past an hour',
    'pipelines:\n  p:\n    stages:\n      - name: a\n        retries: 3\n        retry_delay: 2h\n',
    ['c.yaml: pipelines.p.stages[0].retry_delay: at most 1h'],
  ],
  [
    'durations of periodic timers past the timer limit',
    'store:\n  lease_ttl: 25d\nstreaming:\n  heartbeat_seconds: 2200000\n',
    [
      'c.yaml: store.lease_ttl: at most 24d (2147483647 ms): it is renewed on a timer',
      'c.yaml: streaming.heartbeat_seconds: must be at most 2147483, got 2200000',
    ],
  ],
  [
    'bad gate policy',
    'pipelines:\n  p:\n    stages:\n      - name: a\n        gate:\n          on_timeout: maybe\n',
    ['c.yaml: pipelines.p.stages[0].gate.on_timeout: expected one of approve, reject, wait, got "maybe"'],
  ],
  [
    'bad pipeline name',
    'pipelines:\n  "my pipe":\n    stages:\n      - name: a\n',
    ['c.yaml: pipelines["my pipe"]: not a valid name'],
  ],
  [
    'pipeline without stages',
    'pipelines:\n  p:\n    stages: []\n',
    ['c.yaml: pipelines.p.stages: needs at least 1 entry'],
  ],
  [
    'duplicate stage and gate names',
    'pipelines:\n  p:\n    stages:\n      - name: a\n        gate: {name: b}\n      - name: a\n      - name: b\n        gate: {}\n',
    [
      'c.yaml: pipelines.p.stages[1].name: duplicate stage name "a" (also stages[0])',
      'c.yaml: pipelines.p.stages[2].gate.name: duplicate gate name "b" (also stages[0])',
    ],
  ],
  [
    'token problems',
    'auth:\n  tokens:\n    - name: ci\n      token: short\n      role: root\n    - name: bot\n      token: long-enough\n',
    [
      'c.yaml: auth.tokens[0].token: a token needs at least 8 characters',
      'c.yaml: auth.tokens[0].role: expected one of admin, operator, viewer, got "root"',
      'c.yaml: auth.tokens[1].role: missing, expected one of admin, operator, viewer',
    ],
  ],
  [
    'duplicate tokens',
    'auth:\n  tokens:\n    - {name: a, token: same-token-1, role: admin}\n    - {name: a, token: same-token-1, role: viewer}\n',
    [
      'c.yaml: auth.tokens[1].token: same token as auth.tokens[0]',
      'c.yaml: auth.tokens[1].name: same name as auth.tokens[0]',
    ],
  ],
  [
    'token names the operator records for itself (a person would pass for the runner or the timer)',
    'auth:\n  tokens:\n    - {name: timer, token: timer-token-1, role: operator}\n    - {name: " Runner", token: runner-token-1, role: admin}\n',
    [
      'c.yaml: auth.tokens[0].name: "timer" is the name of an actor the operator records for itself (runner, timer, in any case)',
      'c.yaml: auth.tokens[1].name: " Runner" is the name of an actor the operator records for itself',
    ],
  ],
  [
    'tokens no client could send (white space, beyond ASCII), named by their name and never quoted',
    'auth:\n  tokens:\n    - {name: spaced, token: "two words here", role: admin}\n    - {name: accented, token: "caf\u00e9-latte-token", role: viewer}\n    - {name: emoji, token: "rocket-\u{1F680}-token", role: viewer}\n    - {name: tab, token: "tab\\there-token", role: viewer}\n',
    [
      'c.yaml: auth.tokens[0].token: the token named "spaced" has a character a token cannot have: a token is printable ASCII without spaces (letters, digits and the punctuation ! to ~, codes 33 to 126)',
      'c.yaml: auth.tokens[1].token: the token named "accented" has a character a token cannot have',
      'c.yaml: auth.tokens[2].token: the token named "emoji" has a character a token cannot have',
      'c.yaml: auth.tokens[3].token: the token named "tab" has a character a token cannot have',
    ],
  ],
  [
    'eventstoredb without connection string',
    'store:\n  kind: eventstoredb\n',
    ['c.yaml: store.connection_string: required when store.kind is eventstoredb'],
  ],
  ['a list instead of a mapping', '- server\n', ['c.yaml: expected a mapping, got a list']],
  ['a section of the wrong type', 'server: 5\n', ['c.yaml: server: expected a mapping, got 5']],
];

for (const [title, yaml, expected] of badFiles)
  test(`bad file names the key and the problem: ${title}`, (t) => {
    const error = configError(yaml);
    const lines = error.message.split('\n');
    t.is(lines.length, expected.length, error.message);
    for (const text of expected)
      t.true(
        lines.some((line) => line.startsWith(text)),
        `${text}\n--- not in ---\n${error.message}`,
      );
  });

test('several problems: one line each, with the line they are on', (t) => {
  const error = configError('server:\n  port: abc\n  host: 7\nstreaming:\n  heartbeat_seconds: 0\n');
  t.deepEqual(error.message.split('\n'), [
    'c.yaml: server.port: expected a number, got "abc" (line 2)',
    'c.yaml: server.host: expected a string, got 7 (line 3)',
    'c.yaml: streaming.heartbeat_seconds: must be greater than 0, got 0 (line 5)',
  ]);
});

test('YAML syntax errors are reported with line and column', (t) => {
  const error = configError('server:\n  port: 8008\npipelines: [demo\nstore: {}\n');
  t.regex(error.message, /^c\.yaml: YAML syntax error: .+ \(line \d+, column \d+\)$/m);
  t.is(typeof error.details[0]?.line, 'number');
  t.is(typeof error.details[0]?.column, 'number');
});

test('duplicate keys are a YAML error at the second key', (t) => {
  const error = configError('server:\n  port: 1\n  port: 2\n');
  t.is(error.message, 'c.yaml: YAML syntax error: Map keys must be unique (line 3, column 3)');
});

test('bad environment values name the variable and the key', (t) => {
  const error = configError('server: {}\n', {
    OPERATOR_PORT: 'abc',
    OPERATOR_LANES: '0',
    OPERATOR_STORE: 'mongo',
    OPERATOR_LOG_LEVEL: 'loud',
    OPERATOR_HEARTBEAT_SECONDS: '-1',
  });
  t.deepEqual(error.message.split('\n').sort(), [
    'env OPERATOR_HEARTBEAT_SECONDS: streaming.heartbeat_seconds: must be greater than 0, got -1',
    'env OPERATOR_LANES: pipeline.lanes: must be at least 1, got 0',
    'env OPERATOR_LOG_LEVEL: server.log_level: expected one of trace, debug, info, warn, error, fatal, silent, got "loud"',
    'env OPERATOR_PORT: server.port: expected a number, got "abc"',
    'env OPERATOR_STORE: store.kind: expected one of lmdb, eventstoredb, got "mongo"',
  ]);
});

test('every token source is held to the token characters and the reserved names, never quoting a token', (t) => {
  const cwd = withFile('auth:\n  tokens:\n    - {name: ops, token: a-long-random-token, role: admin}\n');
  writeFileSync(
    join(cwd, 'tokens.yaml'),
    '- {name: runner, token: file-token-1, role: admin}\n- {name: wall, token: "wall token", role: viewer}\n',
  );
  const fromFile = configError('auth: {}\n', { OPERATOR_TOKENS_FILE: join(cwd, 'tokens.yaml') });
  t.deepEqual(fromFile.message.split('\n'), [
    'env OPERATOR_TOKENS_FILE: auth.tokens[0].name: "runner" is the name of an actor the operator records for itself (runner, timer, in any case): a token so named would pass for it in the audit',
    'env OPERATOR_TOKENS_FILE: auth.tokens[1].token: the token named "wall" has a character a token cannot have: a token is printable ASCII without spaces (letters, digits and the punctuation ! to ~, codes 33 to 126)',
  ]);
  const fromEnv = configError('auth: {}\n', { OPERATOR_ADMIN_TOKEN: 'admin tok\u00e9n-secret' });
  t.regex(
    fromEnv.message,
    /^env OPERATOR_ADMIN_TOKEN: auth\.tokens\[0\]\.token: the token named "admin" has a character/,
  );
  const wrongType = configError('auth:\n  tokens:\n    - {name: n, token: 123456789012, role: admin}\n');
  t.is(wrongType.message, 'c.yaml: auth.tokens[0].token: expected a string (line 3)');
  for (const error of [fromFile, fromEnv, wrongType])
    for (const secret of ['wall token', 'tok\u00e9n', '123456789012'])
      t.false(error.message.includes(secret), 'the message never repeats a token');
});

test('usesDefaultToken is false once the seed token is replaced', (t) => {
  const cwd = withFile('auth:\n  tokens:\n    - {name: ops, token: a-long-random-token, role: admin}\n');
  t.false(usesDefaultToken(loadConfig({ path: 'c.yaml', cwd, env: {} })));
});
