import { appendFile, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { benchDir } from '../lib/benchConfig.ts';
import { NodeChild, OPERATOR_BIN, stopAllChildren } from '../lib/nodeChild.ts';
import type { FaultOptions, FaultReport } from './faultReport.ts';
import { FaultRecorder } from './faultReport.ts';
import { api, jobAtGate, startServe, waitCaughtUp } from './serveChild.ts';
import { cliVerify, readStoreJobs, verifyProjections } from './verifyProjections.ts';

const JOBS = { torn: 'torn', truncated: 'truncated', gate: 'nogate' } as const;

/** Runs `operator serve` on a bad config and collects how it fails. */
async function startWithBadConfig(
  path: string,
): Promise<{ code: number | null; output: string; ms: number }> {
  const t0 = performance.now();
  const child = new NodeChild(OPERATOR_BIN, { tsx: false, args: ['serve', '--config', path] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const exit = await child.exited;
  clearTimeout(timer);
  return { code: exit.code, output: child.recent.join('\n'), ms: performance.now() - t0 };
}

/**
 * Damaged files after a stop — a torn last line in events.jsonl, a truncated state.json, a deleted gate file —
 * are reported by verify, and repaired once the server runs again and the job moves on; corrupt configs stop
 * the start with a message naming the problem. Nothing is lost from the store.
 */
export async function diskFaultsScenario(options: FaultOptions): Promise<FaultReport> {
  const rec = new FaultRecorder('disk and input faults', options.log);
  const dir = await benchDir('faults-disk');
  try {
    let served = await startServe(dir.configPath);
    for (const id of Object.values(JOBS)) await jobAtGate(served.url, id);
    await waitCaughtUp(served.url);
    served.child.kill('SIGTERM');
    await served.child.exited;
    const before = await readStoreJobs(dir.dataDir);
    rec.action(`3 jobs run to their gate through the API (${before.total} events), server stopped`);

    const runs = (id: string, ...rest: string[]) => join(dir.runsDir, id, ...rest);
    await appendFile(runs(JOBS.torn, 'events.jsonl'), '{"id":"half-written","job_id":"torn","se');
    const state = await readFile(runs(JOBS.truncated, 'state.json'), 'utf8');
    await truncate(runs(JOBS.truncated, 'state.json'), Math.floor(state.length / 2));
    await rm(runs(JOBS.gate, 'gates', 'work.json'));
    rec.action(
      `damaged: torn last line in ${JOBS.torn}/events.jsonl, ${JOBS.truncated}/state.json cut to half, ${JOBS.gate}/gates/work.json deleted`,
    );

    const found = await verifyProjections(dir.dataDir, dir.runsDir);
    const named = [
      `${JOBS.torn}: events.jsonl ends with a torn line`,
      `${JOBS.truncated}: state.json differs`,
      `${JOBS.gate}: gates/work.json missing`,
    ];
    rec.check(
      'verify reports each damage, naming job and file',
      named.every((n) => found.some((p) => p.startsWith(n))),
      found.join('; '),
    );
    const cliBefore = cliVerify(dir.configPath);
    rec.check('operator projections verify exits non-zero on the damage', !cliBefore.ok, cliBefore.output);

    const logged: string[] = [];
    served = await startServe(dir.configPath, (line) => {
      if (/"level":(40|50|60)/.test(line)) logged.push(line);
    });
    await waitCaughtUp(served.url);
    const atStart = logged.filter((l) => !l.includes('[events]')).length;
    const cliAtStart = cliVerify(dir.configPath);
    rec.check(
      'after the restart, before the jobs move on: verify names each damaged file',
      !cliAtStart.ok &&
        ['torn/events.jsonl', 'truncated/state.json', 'nogate/gates/work.json'].every((f) =>
          cliAtStart.output.includes(f),
        ),
      `server logged ${atStart} warnings at start (it does not scan job files); operator projections verify against the running server: ${cliAtStart.output}`,
    );
    for (const id of Object.values(JOBS)) {
      const r = await api(served.url, 'POST', `/jobs/${id}/gates/work/reject`, {
        comment: 'after the damage',
      });
      if (r.status !== 200) throw new Error(`reject ${id}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    await waitCaughtUp(served.url);
    served.child.kill('SIGTERM');
    await served.child.exited;
    rec.action(
      `restarted, rejected each job's gate (the gate reruns its stage), stopped; warnings: ${
        logged
          .map((l) => (JSON.parse(l) as { msg: string }).msg)
          .filter((m) => !m.startsWith('[events]'))
          .join(' | ') || 'none'
      }`,
    );
    const problems = await verifyProjections(dir.dataDir, dir.runsDir);
    const cliAfter = cliVerify(dir.configPath);
    rec.check('operator projections verify clean afterwards', cliAfter.ok, cliAfter.output);
    rec.check(
      'each damaged file repaired once its job moved on',
      problems.length === 0,
      problems.length === 0
        ? 'events.jsonl, state.json, gates/work.json equal what the store says'
        : problems.join('; '),
    );
    rec.check(
      'the torn line was cut and reported in the log',
      logged.some((l) => l.includes('torn last line')),
      logged.find((l) => l.includes('torn last line'))?.slice(0, 240) ?? 'no log line about it',
    );

    const badValue = join(dir.dir, 'bad-value.yaml');
    await writeFile(
      badValue,
      (await readFile(dir.configPath, 'utf8')).replace(/heartbeat_seconds: \d+/, 'heartbeat_seconds: -1'),
    );
    const badYaml = join(dir.dir, 'bad-yaml.yaml');
    await writeFile(badYaml, 'server: [port: }\n');
    const missing = join(dir.dir, 'missing.yaml');
    for (const [label, path, expect] of [
      ['a negative streaming.heartbeat_seconds', badValue, /heartbeat_seconds/],
      ['YAML that does not parse', badYaml, /bad-yaml\.yaml/],
      ['a config path that does not exist', missing, /missing\.yaml/],
    ] as const) {
      const r = await startWithBadConfig(path);
      rec.check(
        `corrupt config (${label}) stops the start with a clear message`,
        r.code !== 0 && r.code !== null && expect.test(r.output),
        `exit ${r.code} after ${Math.round(r.ms)} ms: ${r.output.split('\n').slice(0, 2).join(' ').slice(0, 200)}`,
      );
    }

    const after = await readStoreJobs(dir.dataDir);
    const lost = [...before.ids.keys()].filter((id) => !after.ids.has(id));
    rec.check(
      'nothing lost from the store',
      lost.length === 0 && after.total === before.total + 2 * Object.keys(JOBS).length,
      `${before.total} events before, ${after.total} after (+2 per rejection), ${lost.length} missing`,
    );
  } finally {
    await stopAllChildren(); // a failed check must not leave a server writing into the dir
    await dir.remove();
  }
  return rec.report();
}
