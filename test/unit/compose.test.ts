import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { parse } from 'yaml';

/**
 * docker-compose.yml (and the cluster variant commented inside it) against the Compose Specification,
 * checked by Debian's `docker-compose` (`config` validates and resolves the file; it needs no Docker
 * engine). Missing tool: installed with apt-get when running as root (as CI does), otherwise the test
 * fails and says how to get it — it never skips.
 */
const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;

async function has(command: string): Promise<boolean> {
  try {
    await run(command, ['version']);
    return true;
  } catch {
    return false;
  }
}

async function ensureDockerCompose(): Promise<string | undefined> {
  if (await has('docker-compose')) return undefined;
  if (process.getuid?.() !== 0)
    return 'docker-compose is missing: install it (apt-get install -y docker-compose) to validate docker-compose.yml';
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await run('apt-get', ['update'], { env, maxBuffer: 64 * 1024 * 1024 });
    await run('apt-get', ['install', '-y', '--no-install-recommends', 'docker-compose'], {
      env,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    return `apt-get install docker-compose failed: ${(error as Error).message}`;
  }
  return (await has('docker-compose')) ? undefined : 'docker-compose still missing after apt-get install';
}

interface ComposeService {
  image: string;
  profiles?: string[];
  ports?: string[];
  command?: string[];
  environment: Record<string, string>;
  healthcheck?: { test?: unknown };
  volumes: string[];
  build: { dockerfile: string };
  depends_on?: unknown;
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
}

function service(config: ComposeFile, name: string): ComposeService {
  const s = config.services[name];
  if (!s) throw new Error(`no service ${name}`);
  return s;
}

/** `docker-compose config`: exits non-zero with the schema violation on an invalid file. */
async function composeConfig(file: string, options: string[] = []): Promise<ComposeFile> {
  // The operator's token comes from the environment (the file requires it): give it one.
  const env = { ...process.env, OPERATOR_ADMIN_TOKEN: 'compose-test-token-0123456789abcdef' };
  const { stdout } = await run(
    'docker-compose',
    ['--project-directory', root, '-f', file, ...options, 'config'],
    {
      cwd: root,
      env,
    },
  );
  return parse(stdout) as ComposeFile;
}

test.serial(
  'docker-compose.yml is a valid Compose file: pinned EventStoreDB, health-gated operator',
  async (t) => {
    t.timeout(300_000);
    const missing = await ensureDockerCompose();
    if (missing) return t.fail(missing);
    const config = await composeConfig(join(root, 'docker-compose.yml'));
    const eventstore = service(config, 'eventstore');
    const operator = service(config, 'operator');
    t.regex(
      eventstore.image,
      /^eventstore\/eventstore:\d+\.\d+\.\d+/,
      'the server image is pinned to a release',
    );
    t.is(eventstore.environment.EVENTSTORE_INSECURE, 'true');
    t.is(eventstore.environment.EVENTSTORE_CLUSTER_SIZE, '1');
    t.truthy(eventstore.healthcheck?.test);
    t.true(eventstore.volumes.some((v) => v.startsWith('eventstore-data:/var/lib/eventstore')));
    t.is(operator.build.dockerfile, 'Dockerfile');
    t.is(operator.environment.OPERATOR_STORE, 'eventstoredb');
    t.is(operator.environment.EVENTSTORE_CONNECTION_STRING, 'esdb://eventstore:2113?tls=false');
    t.deepEqual(operator.depends_on, { eventstore: { condition: 'service_healthy' } });
    t.true('eventstore-data' in config.volumes);
  },
);

test.serial('the commented three-node cluster variant is a valid Compose file too', async (t) => {
  t.timeout(300_000);
  const missing = await ensureDockerCompose();
  if (missing) return t.fail(missing);
  const text = await readFile(join(root, 'docker-compose.yml'), 'utf8');
  const block = /^# --- begin cluster ---\n([\s\S]*?)^# --- end cluster ---$/m.exec(text)?.[1];
  if (!block) return t.fail('no "# --- begin cluster ---" block in docker-compose.yml');
  const dir = await mkdtemp(join(tmpdir(), 'operator-compose-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'cluster.yml');
  await writeFile(file, block.replace(/^# ?/gm, ''));
  const config = await composeConfig(file);
  const nodes = Object.keys(config.services).sort();
  t.deepEqual(nodes, ['eventstore-1', 'eventstore-2', 'eventstore-3']);
  for (const name of nodes) {
    const node = service(config, name);
    t.is(node.environment.EVENTSTORE_CLUSTER_SIZE, '3');
    const seeds = node.environment.EVENTSTORE_GOSSIP_SEED ?? '';
    t.regex(seeds, /eventstore-\d:2113,eventstore-\d:2113/);
    t.false(seeds.includes(name), `${name} does not seed itself`);
  }
});

test('the Dockerfile is multi-stage, installs production dependencies from the lock file, runs as non-root', async (t) => {
  const dockerfile = await readFile(join(root, 'Dockerfile'), 'utf8');
  const instructions = dockerfile
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n\s*/g, ' ');
  t.true((instructions.match(/^FROM /gm) ?? []).length >= 2, 'multi-stage');
  t.regex(instructions, /^RUN npm ci --omit=dev\b/m);
  t.regex(instructions, /^USER (?!root\b|0\b)\S+/m);
  t.regex(instructions, /^CMD \["npm", ?"start"\]$/m);
  // `npm start` runs bin/operator.js: a bundle of the sources made by esbuild, else the sources through tsx
  // (and tsx runs the worker thread's and the stage reaper's entries), so both must survive --omit=dev.
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  t.regex(pkg.scripts.start, /^node bin\/operator\.js serve\b/);
  t.truthy(pkg.dependencies.tsx, 'tsx is a runtime dependency');
  t.truthy(pkg.dependencies.esbuild, 'esbuild is a runtime dependency');
  // The bundle is made while building the image, as root, before the user that cannot write node_modules.
  const warm = instructions.search(/^RUN node bin\/operator\.js --help\b/m);
  t.true(warm > instructions.indexOf('COPY src'), 'the bundle is made after the sources are in');
  t.true(warm >= 0 && warm < instructions.search(/^USER /m), 'and before the unprivileged user');
  t.truthy(pkg.dependencies['@eventstore/db-client'], 'the EventStoreDB client is a runtime dependency');
});

test.serial(
  'the observability profile: pinned Prometheus and Grafana on loopback, configured from deploy/',
  async (t) => {
    t.timeout(300_000);
    const missing = await ensureDockerCompose();
    if (missing) return t.fail(missing);
    const config = await composeConfig(join(root, 'docker-compose.yml'), ['--profile', 'observability']);
    const prometheus = service(config, 'prometheus');
    const grafana = service(config, 'grafana');
    const operator = service(config, 'operator');
    t.regex(prometheus.image, /^prom\/prometheus:v\d+\.\d+\.\d+$/, 'Prometheus pinned to a release');
    t.regex(grafana.image, /^grafana\/grafana:\d+\.\d+\.\d+$/, 'Grafana pinned to a release');
    t.deepEqual(prometheus.profiles, ['observability']);
    t.deepEqual(grafana.profiles, ['observability']);
    t.is(operator.profiles, undefined, 'the operator runs with or without the profile');
    for (const s of [prometheus, grafana])
      for (const port of s.ports ?? []) t.regex(port, /^127\.0\.0\.1:/, 'published on loopback only');

    // Mounted from deploy/: every source exists, and the files point at each other.
    const deploy = join(root, 'deploy');
    t.true(prometheus.volumes.includes(`${join(deploy, 'prometheus')}:/etc/prometheus:ro`));
    t.true(prometheus.command?.includes('--config.file=/etc/prometheus/prometheus.yml'));
    t.true(
      grafana.volumes.includes(`${join(deploy, 'grafana', 'provisioning')}:/etc/grafana/provisioning:ro`),
    );
    const dashboardMount = grafana.volumes.find((v) =>
      v.startsWith(join(deploy, 'grafana', 'operator-events.json')),
    );
    t.truthy(dashboardMount, 'the dashboard is mounted');
    for (const volume of [...prometheus.volumes, ...grafana.volumes].filter((v) => v.startsWith('/')))
      t.true(existsSync(volume.split(':')[0] ?? ''), `${volume}: the source exists`);

    const scrape = parse(await readFile(join(deploy, 'prometheus', 'prometheus.yml'), 'utf8'));
    const job = scrape.scrape_configs.find((c: { job_name: string }) => c.job_name === 'operator');
    t.is(job.metrics_path, '/api/v1/metrics');
    t.deepEqual(job.static_configs[0].targets, [`operator:${operator.environment.OPERATOR_PORT}`]);
    t.deepEqual(scrape.rule_files, ['alerts.yml']);

    const datasources = parse(
      await readFile(join(deploy, 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8'),
    );
    t.is(datasources.datasources[0].url, 'http://prometheus:9090');
    const providers = parse(
      await readFile(join(deploy, 'grafana', 'provisioning', 'dashboards', 'operator-events.yml'), 'utf8'),
    );
    const target = dashboardMount?.split(':')[1] ?? '';
    t.is(
      `${providers.providers[0].options.path}/operator-events.json`,
      target,
      'the provider reads the mounted file',
    );
    t.true(config.volumes && 'prometheus-data' in config.volumes && 'grafana-data' in config.volumes);
  },
);
