import type { ChildProcess } from 'node:child_process';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import test from 'ava';
import { parse, stringify } from 'yaml';
import { systemClock } from '../../src/runner/index.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { startTestServer } from '../helpers/testServer.ts';

/**
 * deploy/prometheus and deploy/grafana against real tools: promtool checks the config and the rules and runs
 * the rules' unit tests; a real Prometheus (Debian's package, installed when missing and running as root,
 * as the browser tier installs chromium) scrapes a real server on loopback while a job goes through the API,
 * and the counters are read back through Prometheus's HTTP API. When Prometheus cannot be had the tests fail
 * and say why; they never skip.
 */
const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const deploy = join(root, 'deploy');
const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';

let installing: Promise<string | undefined> | undefined;

/** Undefined when prometheus and promtool are there (installed now if need be), else why not. */
function ensurePrometheus(): Promise<string | undefined> {
  installing ??= (async () => {
    if (existsSync(PROMETHEUS) && existsSync(PROMTOOL)) return undefined;
    if (process.getuid?.() !== 0)
      return 'prometheus is missing: install it (apt-get install -y --no-install-recommends prometheus) to run these tests';
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    try {
      await run('apt-get', ['update'], { env, maxBuffer: 64 * 1024 * 1024, timeout: 300_000 });
      await run('apt-get', ['install', '-y', '--no-install-recommends', 'prometheus'], {
        env,
        maxBuffer: 64 * 1024 * 1024,
        timeout: 600_000,
      });
    } catch (error) {
      return `apt-get install prometheus failed: ${(error as Error).message}`;
    }
    return existsSync(PROMETHEUS) && existsSync(PROMTOOL)
      ? undefined
      : 'prometheus still missing after apt-get install';
  })();
  return installing;
}

async function promtool(args: string[], cwd = root): Promise<string> {
  const { stdout, stderr } = await run(PROMTOOL, args, { cwd, timeout: 60_000 });
  return stdout + stderr;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

interface RunningPrometheus {
  url: string;
  output: () => string;
  stop(): Promise<void>;
}

/** A real Prometheus on loopback scraping `target` every second with deploy/'s scrape job and rules. */
async function startPrometheus(dir: string, target: string): Promise<RunningPrometheus> {
  const shipped = parse(await readFile(join(deploy, 'prometheus', 'prometheus.yml'), 'utf8'));
  const config = {
    ...shipped,
    global: { ...shipped.global, scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: shipped.rule_files.map((f: string) => join(deploy, 'prometheus', f)),
    scrape_configs: shipped.scrape_configs.map((job: Record<string, unknown>) => ({
      ...job,
      static_configs: [{ targets: [target] }],
    })),
  };
  const file = join(dir, 'prometheus.yml');
  await writeFile(file, stringify(config));
  const port = await freePort();
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [
      `--config.file=${file}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let text = '';
  child.stdout?.on('data', (chunk) => (text += chunk));
  child.stderr?.on('data', (chunk) => (text += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const prometheus: RunningPrometheus = {
    url: `http://127.0.0.1:${port}`,
    output: () => text,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}):\n${text}`);
    const ready = await fetch(`${prometheus.url}/-/ready`, { signal: AbortSignal.timeout(2000) }).catch(
      () => null,
    );
    if (ready?.ok) return prometheus;
    if (Date.now() > deadline) {
      await prometheus.stop();
      throw new Error(`prometheus not ready within 60 s:\n${text}`);
    }
    await sleep(200);
  }
}

/** The value of an instant query's single sample, or null while it has none. */
async function queryValue(prometheus: RunningPrometheus, query: string): Promise<number | null> {
  const res = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(query)}`, {
    signal: AbortSignal.timeout(5000),
  });
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data: { result: { value: [number, string] }[] };
  };
  if (body.status !== 'success') throw new Error(`${query}: ${body.error}`);
  const [first] = body.data.result;
  return first ? Number(first.value[1]) : null;
}

/** Polls `query` until its value satisfies `ok`; returns the last value seen either way. */
async function eventually(
  prometheus: RunningPrometheus,
  query: string,
  ok: (value: number) => boolean,
  ms = 30_000,
): Promise<number | null> {
  const deadline = Date.now() + ms;
  let value: number | null = null;
  for (;;) {
    value = await queryValue(prometheus, query);
    if ((value !== null && ok(value)) || Date.now() > deadline) return value;
    await sleep(250);
  }
}

async function post(server: TestServer, path: string, body: unknown = {}): Promise<void> {
  const res = await server.api(path, { method: 'POST', as: 'operator', json: body });
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
}

test.serial(
  'promtool: the shipped config and rules are valid, and every alert passes its unit tests',
  async (t) => {
    t.timeout(900_000);
    const missing = await ensurePrometheus();
    if (missing) return t.fail(missing);
    t.regex(await promtool(['check', 'config', join(deploy, 'prometheus', 'prometheus.yml')]), /SUCCESS/);
    t.regex(
      await promtool(['check', 'rules', join(deploy, 'prometheus', 'alerts.yml')]),
      /SUCCESS: 10 rules found/,
    );
    // Each alert fires on the series it watches after its `for:`, with its summary and runbook, and stays
    // quiet on healthy series (deploy/prometheus/alerts.test.yml).
    const tested = await promtool(['test', 'rules', 'alerts.test.yml'], join(deploy, 'prometheus'));
    t.regex(tested, /SUCCESS/);
  },
);

test.serial('a real Prometheus scrapes a real server: a job driven through the API is counted', async (t) => {
  t.timeout(900_000);
  const missing = await ensurePrometheus();
  if (missing) return t.fail(missing);
  // The API's clock, shifted forward later: a gate's wait grows past its 1h timeout in no time.
  let shiftMs = 0;
  const clock = systemClock(() => new Date(Date.now() + shiftMs));
  const server = await startTestServer({}, { clock });
  t.teardown(() => server.stop());
  const dir = await mkdtemp(join(tmpdir(), 'operator-prometheus-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const prometheus = await startPrometheus(dir, new URL(server.url).host);
  t.teardown(() => prometheus.stop());

  t.is(await eventually(prometheus, 'up{job="operator"}', (v) => v === 1), 1, 'the target is up');

  // A live stream of every job, read in the background: its frames are counted too.
  const stream = new AbortController();
  t.teardown(() => stream.abort());
  const streamed = server
    .api('/events/stream', { as: 'viewer', signal: stream.signal })
    .then(async (res) => {
      for await (const _chunk of res.body ?? []);
    })
    .catch(() => {});

  const res = await server.api('/jobs', { method: 'POST', as: 'operator', json: { id: 'prom-job' } });
  t.is(res.status, 201);
  await post(server, '/jobs/prom-job/start');
  for (const step of ['ingest/start', 'ingest/complete', 'review/start', 'review/complete'])
    await post(server, `/jobs/prom-job/stages/${step}`);

  // Paused at the review gate: the gate gauges show it.
  t.is(await eventually(prometheus, 'operator_gate_waiting_jobs{gate="review"}', (v) => v === 1), 1);
  t.is(await eventually(prometheus, 'operator_jobs{status="paused"}', (v) => v === 1), 1);
  t.is(
    await queryValue(prometheus, 'operator_gate_overdue_jobs{gate="review"}'),
    0,
    'its 1h timeout is ahead',
  );

  // Five hours later (no runner here, so no timer decides): past its timeout and past the alert's 4 h age.
  shiftMs = 5 * 3600_000;
  t.is(await eventually(prometheus, 'operator_gate_overdue_jobs{gate="review"}', (v) => v === 1), 1);
  const oldest = await eventually(
    prometheus,
    'operator_gate_oldest_wait_seconds{gate="review"}',
    (v) => v >= 18_000,
  );
  t.true((oldest ?? 0) >= 18_000 && (oldest ?? 0) < 18_300, `waited ${oldest} s`);
  const firing = await (async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const body = (await (await fetch(`${prometheus.url}/api/v1/alerts`)).json()) as {
        data: {
          alerts: { labels: Record<string, string>; state: string; annotations: Record<string, string> }[];
        };
      };
      const alert = body.data.alerts.find((a) => a.labels['alertname'] === 'OperatorGateWaitingLong');
      if (alert?.state === 'firing' || Date.now() > deadline) return alert;
      await sleep(250);
    }
  })();
  t.is(firing?.state, 'firing', 'the alert fires in a real Prometheus on the real series');
  t.like(firing?.labels, { gate: 'review', pipeline: 'external', severity: 'info' });
  t.is(firing?.annotations['runbook'], 'README.md#operatorgatewaitinglong');

  await post(server, '/jobs/prom-job/gates/review/approve', { comment: 'fine' });
  for (const step of ['publish/start', 'publish/complete'])
    await post(server, `/jobs/prom-job/stages/${step}`);

  const page = (await (await server.api('/jobs/prom-job/events', { as: 'viewer' })).json()) as {
    events: { type: string }[];
  };
  const appended = page.events.length;
  t.is(page.events.at(-1)?.type, 'job_completed');
  t.is(
    await eventually(prometheus, 'sum(operator_events_appended_total)', (v) => v === appended),
    appended,
    'every appended event counted, read back through Prometheus',
  );
  t.is(
    await eventually(prometheus, 'operator_events_appended_total{type="gate_approved"}', (v) => v === 1),
    1,
  );
  t.is(await eventually(prometheus, 'operator_jobs{status="completed"}', (v) => v === 1), 1);
  t.is(await eventually(prometheus, 'operator_jobs{status="paused"}', (v) => v === 0), 0);
  t.is(
    await eventually(prometheus, 'count(operator_gate_waiting_jobs)', () => false, 3000),
    null,
    'a gate nobody waits at leaves the output',
  );
  t.is(
    await eventually(
      prometheus,
      'sum(operator_gate_wait_seconds_count{gate="review",decision="approved"})',
      (v) => v === 1,
    ),
    1,
  );
  const waited = await queryValue(prometheus, 'sum(operator_gate_wait_seconds_sum{gate="review"})');
  t.true((waited ?? 0) >= 18_000 && (waited ?? 0) < 18_300, `the decided wait: ${waited} s`);
  const appends = await eventually(prometheus, 'operator_event_append_duration_seconds_count', (v) => v >= 9);
  t.true((appends ?? 0) >= 9, `append latency observed per command (${appends})`);
  const frames = await eventually(prometheus, 'operator_sse_frames_sent_total', (v) => v >= appended);
  t.true((frames ?? 0) >= appended, `the all-jobs stream got every event (${frames} frames)`);
  t.is(await eventually(prometheus, 'operator_projection_lag_seconds', (v) => v === 0), 0);

  // The rules load and evaluate against the real series without error, and none fires on a healthy server.
  const rules = await (async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const body = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as {
        data: { groups: { rules: { name: string; health: string; state: string; lastError?: string }[] }[] };
      };
      const all = body.data.groups.flatMap((g) => g.rules);
      const settled = all.length > 0 && all.every((r) => r.health === 'ok' && r.state === 'inactive');
      if (settled || Date.now() > deadline) return all;
      await sleep(250);
    }
  })();
  const shippedRules = parse(await readFile(join(deploy, 'prometheus', 'alerts.yml'), 'utf8')) as RuleFile;
  t.is(rules.length, shippedRules.groups.flatMap((g) => g.rules).length, 'every shipped rule is loaded');
  for (const rule of rules) {
    t.is(rule.health, 'ok', `${rule.name}: ${rule.lastError ?? ''}`);
    t.is(rule.state, 'inactive', `${rule.name} quiet once the gate is decided`);
  }

  stream.abort();
  await streamed;
  await prometheus.stop();
  t.false(/level=error/.test(prometheus.output()), prometheus.output());
});

/** Metric names in PromQL: the `operator_` identifiers (label values and strings hold none). */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\boperator_[a-z0-9_]+/g)].map((m) => m[0]);
}

interface Dashboard {
  uid: string;
  templating: { list: { name: string; type: string }[] };
  panels: {
    id: number;
    type: string;
    title: string;
    gridPos: { x: number; w: number };
    datasource?: { uid: string };
    targets?: { expr: string }[];
  }[];
}

interface RuleFile {
  groups: { rules: { alert: string; expr: string; annotations: Record<string, string> }[] }[];
}

test.serial(
  'every metric the dashboard and the alert rules use is exported by a running server',
  async (t) => {
    const dashboard = JSON.parse(
      await readFile(join(deploy, 'grafana', 'operator-events.json'), 'utf8'),
    ) as Dashboard;
    const rules = parse(await readFile(join(deploy, 'prometheus', 'alerts.yml'), 'utf8')) as RuleFile;
    const exprs = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((target) => target.expr)),
      ...rules.groups.flatMap((g) => g.rules.map((r) => r.expr)),
    ];
    const used = new Set(exprs.flatMap(metricNames));
    t.true(used.size >= 15, `names found: ${[...used].join(', ')}`);

    const server = await startTestServer();
    t.teardown(() => server.stop());
    const exposition = await (await fetch(`${server.url}/api/v1/metrics`)).text();
    const types = new Map(
      [...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1] ?? '', m[2] ?? ''] as const),
    );
    for (const name of used) {
      const series = /^(.*)_(bucket|sum|count)$/.exec(name);
      const base = series?.[1] ?? '';
      const fromHistogram =
        series !== null &&
        (types.get(base) === 'histogram' || (series[2] !== 'bucket' && types.get(base) === 'summary'));
      t.true(types.has(name) || fromHistogram, `${name} is exported by /metrics`);
    }
  },
);

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

test('every alert has a summary and a runbook pointing at its entry in the README Observability section', async (t) => {
  const rules = parse(await readFile(join(deploy, 'prometheus', 'alerts.yml'), 'utf8')) as RuleFile;
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const section = /^## Observability\n([\s\S]*?)(?=^## )/m.exec(`${readme}\n## end`)?.[1];
  if (!section) return t.fail('README.md has no "## Observability" section');
  const anchors = new Set([...section.matchAll(/^#{3,4} (.+)$/gm)].map((m) => slug(m[1] ?? '')));
  const alerts = rules.groups.flatMap((g) => g.rules);
  t.is(alerts.length, 10);
  for (const rule of alerts) {
    t.truthy(rule.annotations['summary'], `${rule.alert} has a summary`);
    const runbook = rule.annotations['runbook'] ?? '';
    t.is(runbook, `README.md#${slug(rule.alert)}`, `${rule.alert}'s runbook`);
    t.true(anchors.has(slug(rule.alert)), `README Observability has a "${rule.alert}" heading`);
  }
});

test('the dashboard is well-formed: unique panel ids, every query on the datasource variable, inside 24 columns', async (t) => {
  const dashboard = JSON.parse(
    await readFile(join(deploy, 'grafana', 'operator-events.json'), 'utf8'),
  ) as Dashboard;
  t.is(dashboard.uid, 'operator-events');
  t.true(dashboard.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'));
  const ids = dashboard.panels.map((p) => p.id);
  t.is(new Set(ids).size, ids.length);
  for (const panel of dashboard.panels) {
    t.true(panel.gridPos.x + panel.gridPos.w <= 24, panel.title);
    if (panel.type === 'row') continue;
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template
    t.is(panel.datasource?.uid, '${datasource}', panel.title);
    t.true((panel.targets ?? []).length > 0, `${panel.title} has a query`);
  }
  const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join(' | ');
  for (const topic of [
    'jobs by status',
    'events appended',
    'append latency',
    'sse clients',
    'sse deliveries',
    'projection lag',
    'webhook deliveries',
    'gate',
  ])
    t.true(titles.includes(topic), `a panel on ${topic}`);
});
