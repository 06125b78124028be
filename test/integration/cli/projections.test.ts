import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { openLmdbEventStore } from '../../../src/infra/eventstore/lmdb/index.ts';
import { newLeaseHolder } from '../../../src/infra/leases/lmdbLeases.ts';
import { ProjectionLeases, REBUILD_LEASE } from '../../../src/infra/leases/projectionLeases.ts';
import { ReadModelStore } from '../../../src/projections/index.ts';
import { advance, cliWorld, runCli, settle } from '../../helpers/cli.ts';
import { JobTraffic } from '../../helpers/jobTraffic.ts';

/** `operator projections status|verify|rebuild` as the real binary, with the server running and stopped. */

type Outcome = 'created' | 'running' | 'paused' | 'completed' | 'canceled';
const OUTCOMES: Outcome[] = ['completed', 'paused', 'running', 'canceled', 'created'];

interface StatusJson {
  store_head: string | null;
  generation: number;
  writer: { role: string; pid: number } | null;
  projections: {
    name: string;
    checkpoint: string | null;
    lag_events: number;
    lag_seconds: number | null;
    last_error: string | null;
  }[];
}

test('status: checkpoints, store head, lag in events and seconds, the last error, the writer', async (t) => {
  const world = await cliWorld();
  t.teardown(() => world.cleanup());
  await world.start();
  await advance(world, 'st-a', 'completed');
  await advance(world, 'st-b', 'paused');
  await settle(world);
  const ok = await runCli(world.local('projections', 'status', '--json'));
  t.is(ok.code, 0, ok.stderr);
  const status = JSON.parse(ok.stdout) as StatusJson;
  t.is(status.writer?.role, 'serve');
  t.is(status.writer?.pid, process.pid);
  for (const p of status.projections)
    t.like(p, { checkpoint: status.store_head, lag_events: 0, lag_seconds: 0, last_error: null });
  t.deepEqual(
    status.projections.map((p) => p.name),
    ['jsonl', 'state', 'readmodel', 'logs'],
  );

  // A job whose run dir cannot be created (a file is in the way): the file projections fail and retry.
  await writeFile(join(world.config.storage.runs_dir, 'st-bad'), 'in the way');
  await advance(world, 'st-bad', 'created');
  for (let i = 0; i < 100 && !world.logLines.some((l) => l.includes('projections: batch failed')); i++)
    await sleep(50);
  const failing = JSON.parse(
    (await runCli(world.local('projections', 'status', '--json'))).stdout,
  ) as StatusJson;
  const jsonl = failing.projections[0];
  t.regex(jsonl?.last_error ?? '', /ENOTDIR|EEXIST|not a directory/);
  t.true((jsonl?.lag_events ?? 0) >= 1);
  const table = await runCli(world.local('projections', 'status'));
  t.regex(table.stdout, /^PROJECTION\s+CHECKPOINT\s+STORE HEAD\s+LAG EVENTS\s+LAG SECONDS\s+LAST ERROR$/m);
  t.regex(table.stdout, /^jsonl\s+\d+\s+\d+\s+[1-9]\d*\s+[\d.]+\s+.*(ENOTDIR|EEXIST|not a directory)/m);
  t.regex(table.stdout, new RegExp(`writer: serve pid ${process.pid} on `));
  await rm(join(world.config.storage.runs_dir, 'st-bad'));
  await settle(world);
  let recovered: StatusJson | undefined;
  for (let i = 0; i < 10; i++) {
    await sleep(200); // the error record is cleared right after the batch applies
    recovered = JSON.parse(
      (await runCli(world.local('projections', 'status', '--json'))).stdout,
    ) as StatusJson;
    if (recovered.projections.every((p) => p.last_error === null)) break;
  }
  t.true(recovered?.projections.every((p) => p.last_error === null && p.lag_events === 0));

  // Server stopped, events appended behind its back: lag in events and seconds, no writer.
  await world.stop();
  const store = await openLmdbEventStore({ path: join(world.config.storage.data_dir, 'store') });
  await new JobTraffic(store).runPlan('st-late', 'paused');
  // events of other streams (as lease renewals and webhook records are) are no lag: no projection follows them
  for (let i = 0; i < 5; i++)
    await store.append('other-stream', [{ id: randomUUID(), type: 'tick', data: { i } }]);
  await store.close();
  const stale = JSON.parse(
    (await runCli(world.local('projections', 'status', '--json'))).stdout,
  ) as StatusJson;
  t.is(stale.writer, null);
  for (const p of stale.projections) {
    t.is(p.lag_events, 7); // a job up to its gate: 7 events
    t.true((p.lag_seconds ?? -1) >= 0);
  }
  const text = await runCli(world.local('projections', 'status'));
  t.regex(text.stdout, /writer: none \(no server is projecting\)/);
});

test('verify: one summary line when healthy; a deleted, edited and duplicated line, a missing state file and a stale row are each named', async (t) => {
  const world = await cliWorld();
  t.teardown(() => world.cleanup());
  await world.start();
  for (const [i, outcome] of OUTCOMES.entries()) await advance(world, `v${i + 1}`, outcome);
  await advance(world, 'v6', 'completed');
  await settle(world);
  const healthy = await runCli(world.local('projections', 'verify'));
  t.is(healthy.code, 0, healthy.stdout + healthy.stderr);
  t.regex(
    healthy.stdout,
    /^verify: clean \(6 jobs, \d+ events checked: jsonl, state, readmodel, logs; store head \d+\)\n$/,
  );
  await world.stop();

  const runs = world.config.storage.runs_dir;
  const jsonlOf = (id: string) => join(runs, id, 'events.jsonl');
  const editLines = async (id: string, edit: (lines: string[]) => void) => {
    const lines = (await readFile(jsonlOf(id), 'utf8')).split('\n');
    edit(lines);
    await writeFile(jsonlOf(id), lines.join('\n'));
  };
  await editLines('v1', (l) => l.splice(2, 1)); // line 3 (seq 2) deleted
  await editLines('v2', (l) => {
    l[1] = (l[1] as string).replace('"actor":"root"', '"actor":"mallory"'); // line 2 (seq 1) edited
  });
  await editLines('v6', (l) => l.splice(4, 0, l[3] as string)); // line 4 (seq 3) duplicated as line 5
  await rm(join(runs, 'v4', 'state.json')); // state file missing
  const rms = ReadModelStore.open(world.config.storage.data_dir);
  const jobs = rms.tables().jobs;
  const row = jobs.get('v3');
  if (!row) throw new Error('no row for v3');
  await jobs.put('v3', { ...row, status: 'completed', current_stage: null }); // stale / wrong row
  await rms.close();

  const drift = await runCli(world.local('projections', 'verify'));
  t.is(drift.code, 1, drift.stderr);
  const out = drift.stdout;
  t.true(
    out.includes(`${jsonlOf('v1')}:3: missing (job v1, seq 2): line for seq 2 missing (found seq 3 here)`),
    out,
  );
  t.true(
    out.includes(
      `${jsonlOf('v2')}:2: different (job v2, seq 1): line differs from the store: actor is "mallory", expected "root"`,
    ),
    out,
  );
  t.true(out.includes(`${jsonlOf('v6')}:5: extra (job v6, seq 3): extra line: a duplicate of seq 3`), out);
  t.regex(out, new RegExp(`${join(runs, 'v4', 'state.json')}: missing \\(job v4, seq \\d+\\): file missing`));
  t.regex(
    out,
    /readmodel g1:jobs\[v3\]: different \(job v3, seq \d+\): stale or wrong row: status is "completed", expected "running"/,
  );
  t.regex(out, /readmodel g1:jobs_by_status\[running,\S+,v3\]: extra \(job v3\)/);
  t.regex(
    out,
    /\nverify: 6 differences in 5 jobs \(6 jobs, \d+ events checked: jsonl, state, readmodel, logs\)\n$/,
  );
  const json = JSON.parse((await runCli(world.local('projections', 'verify', '--json'))).stdout);
  t.false(json.ok);
  t.is(json.differences.length, 6);
  t.like(
    json.differences.find((d: { job_id: string }) => d.job_id === 'v1'),
    { projection: 'jsonl', kind: 'missing', seq: 2, line: 3, file: jsonlOf('v1') },
  );
  const onlyState = await runCli(world.local('projections', 'verify', 'state'));
  t.is(onlyState.code, 1);
  t.regex(onlyState.stdout, /\nverify: 1 difference in 1 job \(6 jobs, \d+ events checked: state\)\n$/);

  // Rebuild with the server stopped: everything back; a log file the store has no records of (written
  // before logs were in the store) is left alone.
  await mkdir(join(runs, 'v1', 'logs'), { recursive: true });
  await writeFile(join(runs, 'v1', 'logs', 'ingest.log'), 'stage output\n');
  const rebuilt = await runCli(world.local('projections', 'rebuild', '--all'));
  t.is(rebuilt.code, 0, rebuilt.stderr);
  t.regex(
    rebuilt.stdout,
    /^rebuilt jsonl, state, readmodel, logs up to position \d+ in [\d.]+s \(\d+ events\/s\); 6 job\(s\), 4 with files replaced, read model generation 2; projections paused \d+ ms\n$/,
  );
  t.is(await readFile(join(runs, 'v1', 'logs', 'ingest.log'), 'utf8'), 'stage output\n');
  const clean = await runCli(world.local('projections', 'verify'));
  t.is(clean.code, 0, clean.stdout);
  t.regex(clean.stdout, /^verify: clean/);
  await t.throwsAsync(readFile(join(runs, '.rebuild', 'v1', 'events.jsonl')), { code: 'ENOENT' });

  // One projection, with the server running: the read model alone flips back to generation 1.
  await world.start();
  const before = await (await world.api('/jobs?limit=100')).json();
  const readmodel = await runCli(world.local('projections', 'rebuild', 'readmodel'));
  t.is(readmodel.code, 0, readmodel.stderr);
  t.regex(readmodel.stdout, /rebuilt readmodel .* read model generation 1;/);
  t.deepEqual(await (await world.api('/jobs?limit=100')).json(), before);
  await advance(world, 'v7', 'running');
  await settle(world);
  const after = await runCli(world.local('projections', 'verify'));
  t.is(after.code, 0, after.stdout);
  t.regex(after.stdout, /^verify: clean \(7 jobs,/);
});

test('rebuild under load: a poller never sees a missing or half-state job, and verify is clean after the swap', async (t) => {
  const world = await cliWorld();
  t.teardown(() => world.cleanup());
  await world.start();
  const seed = Array.from({ length: 60 }, (_, i) => i);
  for (let i = 0; i < seed.length; i += 8)
    await Promise.all(
      seed.slice(i, i + 8).map((n) => advance(world, `ld-${n}`, OUTCOMES[n % OUTCOMES.length] as Outcome)),
    );
  await settle(world);

  let stop = false;
  const violations: string[] = [];
  let polls = 0;
  let appended = 0;
  const appender = (async () => {
    for (let n = 0; !stop; n++) {
      await advance(world, `ld-new-${n}`, OUTCOMES[n % OUTCOMES.length] as Outcome);
      appended++;
    }
  })();
  const poller = (async () => {
    const seen = new Map<string, number>(); // job -> highest seq seen
    while (!stop) {
      const list = (await (await world.api('/jobs?limit=1000')).json()) as {
        jobs: { job_id: string; seq: number }[];
      };
      const listed = new Map(list.jobs.map((j) => [j.job_id, j.seq]));
      for (const [id, seq] of seen) {
        const now = listed.get(id);
        if (now === undefined) violations.push(`poll ${polls}: ${id} missing from the listing`);
        else if (now < seq) violations.push(`poll ${polls}: ${id} went back from seq ${seq} to ${now}`);
      }
      for (const [id, seq] of listed) seen.set(id, Math.max(seq, seen.get(id) ?? -1));
      const sample = [...listed.keys()].filter((_, i) => i % 7 === polls % 7).slice(0, 6);
      for (const id of sample) {
        const res = await world.api(`/jobs/${id}`);
        if (res.status !== 200) {
          violations.push(`poll ${polls}: GET /jobs/${id} answered ${res.status}`);
          continue;
        }
        const job = (await res.json()) as { seq: number; event_count: number };
        const page = (await (await world.api(`/jobs/${id}/events?after=-1&limit=1000`)).json()) as {
          events: { seq: number }[];
          head: number;
        };
        const seqs = page.events.map((e) => e.seq);
        if (!seqs.every((s, i) => s === i))
          violations.push(`poll ${polls}: ${id} events not contiguous: ${seqs}`);
        if (page.head < job.seq || job.event_count !== job.seq + 1)
          violations.push(
            `poll ${polls}: ${id} half state: row seq ${job.seq}, ${job.event_count} events, head ${page.head}`,
          );
      }
      polls++;
    }
  })();
  await sleep(200);
  const pollsBefore = polls;
  const appendedBefore = appended;
  const rebuild = await runCli(world.local('projections', 'rebuild', '--all', '--batch-size', '10'));
  const pollsDuring = polls - pollsBefore;
  const appendedDuring = appended - appendedBefore;
  await sleep(300);
  stop = true;
  await Promise.all([appender, poller]);
  t.is(rebuild.code, 0, rebuild.stdout + rebuild.stderr);
  t.regex(rebuild.stdout, /read model generation 2; projections paused \d+ ms/);
  t.regex(
    rebuild.stderr,
    /caught up; asking the projection writer \(serve pid \d+ on \S+\) to pause for the swap/,
  );
  t.log(rebuild.stdout.trim(), `| ${pollsDuring} polls and ${appendedDuring} jobs driven during the rebuild`);
  t.deepEqual(violations, []);
  t.true(pollsDuring > 10, `${pollsDuring} polls during the rebuild`);
  // Writes went on while the rebuild ran (a faster rebuild leaves room for fewer of them: at least one job).
  t.true(appendedDuring >= 1, `${appendedDuring} jobs driven through their commands during the rebuild`);
  t.true(world.logLines.some((l) => l.includes('writer lease handed over')));
  await settle(world);
  const verify = await runCli(world.local('projections', 'verify'));
  t.is(verify.code, 0, verify.stdout);
  t.regex(verify.stdout, /^verify: clean \(\d+ jobs/);
});

test('rebuild: one at a time, and a bad projection name is a usage error', async (t) => {
  const world = await cliWorld();
  t.teardown(() => world.cleanup());
  await world.start();
  await advance(world, 'one', 'running');
  await world.stop();
  const rms = ReadModelStore.open(world.config.storage.data_dir);
  const leases = new ProjectionLeases(rms.env);
  const me = newLeaseHolder('rebuild');
  t.true(leases.tryAcquire(REBUILD_LEASE, me, 60_000));
  const busy = await runCli(world.local('projections', 'rebuild'));
  leases.release(REBUILD_LEASE, me);
  await rms.close();
  t.is(busy.code, 1);
  t.regex(
    busy.stderr,
    new RegExp(
      `^operator: another rebuild is running \\(pid ${process.pid} on \\S+, since \\S+\\) \\[rebuild_busy\\]`,
    ),
  );
  const bad = await runCli(world.local('projections', 'rebuild', 'nope'));
  t.is(bad.code, 2);
  t.regex(bad.stderr, /unknown projection "nope" \(known: jsonl, state, readmodel, logs\)/);
  const noStore = await runCli(['projections', 'status', '--data-dir', join(world.dir, 'elsewhere')]);
  t.is(noStore.code, 1);
  t.regex(noStore.stderr, /no event store at/);
});
