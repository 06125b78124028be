import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readdirSync } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import type { AddressInfo, Socket } from 'node:net';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import test from 'ava';
import { openLmdbEventStore } from '../../../src/infra/eventstore/lmdb/index.ts';
import type { CliWorld } from '../../helpers/cli.ts';
import { advance, CliProcess, cliWorld, runCli, settle } from '../../helpers/cli.ts';
import { JobTraffic } from '../../helpers/jobTraffic.ts';
import { TOKENS } from '../../helpers/testServer.ts';

/** `operator events read|tail|export|replay` as the real binary against a real server. */
let world: CliWorld;
let now = Date.parse('2026-11-01T10:00:00.000Z');

test.before(async () => {
  // Commands are stamped with this clock: two seconds pass between any two commands.
  world = await cliWorld(
    { streaming: { heartbeat_seconds: 1, retry_ms: 300 } },
    {
      clock: () => {
        now += 2000;
        return new Date(now);
      },
    },
  );
  await world.start();
  await advance(world, 'ev-a', 'completed');
  await advance(world, 'ev-b', 'paused');
  await settle(world);
});

test.after.always(async () => {
  await world?.cleanup();
});

interface Ev {
  job_id: string;
  seq: number;
  position: string;
  type: string;
  stage: string | null;
}
/** NDJSON lines as canonical events (fields an export may add for the audit chain are dropped). */
const lines = (text: string): Ev[] =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const {
        hash: _h,
        prev_hash: _p,
        ...event
      } = JSON.parse(l) as Ev & { hash?: string; prev_hash?: string };
      return event;
    });

test('events read: a table, NDJSON, and the --after, --since, --type and --stage filters', async (t) => {
  const table = await runCli(world.remote('events', 'read', 'ev-a'));
  t.is(table.code, 0, table.stderr);
  const rows = table.stdout.trimEnd().split('\n');
  t.regex(rows[0] as string, /^SEQ\s+TS\s+TYPE\s+STAGE\s+STATUS\s+ACTOR\s+MESSAGE$/);
  t.regex(
    rows[1] as string,
    /^0\s+2026-11-01T10:00:02\.000Z\s+job_created\s+-\s+queued\s+root\s+job ev-a created/,
  );
  t.regex(rows.at(-1) as string, /job_completed/);

  const json = await runCli(world.remote('events', 'read', 'ev-a', '--json'));
  const all = lines(json.stdout);
  t.deepEqual(
    all.map((e) => e.seq),
    all.map((_, i) => i),
  );
  const res = await world.api('/jobs/ev-a/events?after=-1&limit=1000');
  const fromApi = ((await res.json()) as { events: unknown[] }).events;
  t.deepEqual(all, fromApi as Ev[], 'the canonical events, as the API serves them');

  const after = lines(
    (await runCli(world.remote('events', 'read', 'ev-a', '--json', '--after', '5'))).stdout,
  );
  t.deepEqual(
    after.map((e) => e.seq),
    all.filter((e) => e.seq > 5).map((e) => e.seq),
  );
  const since = lines(
    (await runCli(world.remote('events', 'read', 'ev-a', '--json', '--since', '2026-11-01T10:00:06.000Z')))
      .stdout,
  );
  t.is(since[0]?.seq, 2, 'since is inclusive: the third command was stamped at 10:00:06');
  const gates = lines(
    (await runCli(world.remote('events', 'read', 'ev-a', '--json', '--type', 'gate_pause,gate_approved')))
      .stdout,
  );
  t.deepEqual(
    gates.map((e) => e.type),
    ['gate_pause', 'gate_approved'],
  );
  const stage = lines(
    (await runCli(world.remote('events', 'read', 'ev-a', '--json', '--stage', 'publish'))).stdout,
  );
  t.true(stage.length >= 2 && stage.every((e) => e.stage === 'publish'));
  const badType = await runCli(world.remote('events', 'read', 'ev-a', '--type', 'nope'));
  t.is(badType.code, 2);
  t.regex(badType.stderr, /unknown event type\(s\): nope/);
});

test('events read: no server, a wrong token, an unknown job', async (t) => {
  const down = await runCli(['events', 'read', 'ev-a', '--url', world.deadUrl]);
  t.is(down.code, 1);
  t.true(
    down.stderr.startsWith(`operator: cannot reach the operator server at ${world.deadUrl}`),
    down.stderr,
  );
  const bad = await runCli(['events', 'read', 'ev-a', '--url', world.url, '--token', 'wrong-token-123']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /refused the token: invalid token/);
  const unknown = await runCli(world.remote('events', 'read', 'nope'));
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /job nope not found/);
});

test('events tail <job>: history from --after, then live, and it ends after the terminal event', async (t) => {
  await advance(world, 'ev-t', 'running');
  const tail = new CliProcess(world.remote('events', 'tail', 'ev-t', '--after', '-1', '--json'));
  await tail.waitFor((out) => lines(out).length === 4);
  await world.api('/jobs/ev-t/cancel', { method: 'POST', json: { reason: 'done here' } });
  const result = await tail.exited;
  t.is(result.code, 0, result.stderr);
  const events = lines(result.stdout);
  t.deepEqual(
    events.map((e) => e.seq),
    [0, 1, 2, 3, 4],
  );
  t.is(events.at(-1)?.type, 'job_canceled');
  const human = await runCli(world.remote('events', 'tail', 'ev-t', '--after', '2'));
  t.is(human.code, 0);
  t.regex(human.stdout, /^2026-11-01T\S+ #3 stage_completed \[ingest\] running by root: /m);
});

test('events read and tail: a comment with escape sequences and newlines is printed escaped, one line per event', async (t) => {
  await advance(world, 'ev-x', 'paused');
  const hostile =
    'ok\u001b[2J\u001b]0;pwned\u0007\r\n2026-11-01T00:00:00.000Z #99 gate_approved by admin: forged\u202e';
  const approved = await world.api('/jobs/ev-x/gates/review/approve', {
    method: 'POST',
    json: { comment: hostile },
  });
  t.is(approved.status, 200);
  await world.api('/jobs/ev-x/cancel', { method: 'POST', json: { reason: 'bye\u009b31m' } });
  await settle(world);
  const outputs = [
    (await runCli(world.remote('events', 'read', 'ev-x'))).stdout,
    (await runCli(world.remote('events', 'tail', 'ev-x', '--after', '-1'))).stdout,
  ];
  for (const out of outputs) {
    const controls = [...out].filter((c) => {
      const n = c.codePointAt(0) as number;
      return (n < 0x20 && c !== '\n') || (n >= 0x7f && n <= 0x9f) || n === 0x202e;
    });
    t.deepEqual(controls, [], 'no control character but the newlines');
    t.false(/^2026-11-01T00:00:00\.000Z #99/m.test(out), 'no forged line');
    t.true(out.includes('ok\\u001b[2J\\u001b]0;pwned\\u0007\\r\\n2026-11-01T00:00:00.000Z #99'), out);
    t.true(out.includes('bye\\u009b31m'));
  }
  // --json keeps the text as it was, JSON-escaped
  const json = await runCli(world.remote('events', 'read', 'ev-x', '--json', '--type', 'gate_approved'));
  t.is((JSON.parse(json.stdout.trim()) as { message: string }).message.endsWith(hostile), true);
});

test.serial(
  'events tail: after a dropped connection it resumes from the last id it printed (no gap, no repeat)',
  async (t) => {
    const proxy = await startProxy(new URL(world.url).port);
    try {
      const tail = new CliProcess([
        'events',
        'tail',
        '--json',
        '--url',
        proxy.url,
        '--token',
        TOKENS.viewer,
        '--count',
        '30',
      ]);
      await tail.waitFor(() => proxy.connections > 0);
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (let i = 0; i < 3; i++) await advance(world, `ev-r${i}`, 'running'); // 12 events
      await tail.waitFor((out) => lines(out).length >= 12);
      proxy.dropAll();
      for (let i = 3; i < 5; i++) await advance(world, `ev-r${i}`, 'running'); // 8 more while it reconnects
      await tail.waitFor((out) => lines(out).length >= 20);
      proxy.dropAll();
      await tail.waitFor(() => proxy.total >= 3);
      for (let i = 5; i < 8; i++) await advance(world, `ev-r${i}`, 'running'); // 12 more: 32, --count stops at 30
      const result = await tail.exited;
      t.is(result.code, 0, result.stderr);
      const events = lines(result.stdout);
      t.is(events.length, 30);
      const positions = events.map((e) => Number(e.position));
      t.deepEqual(
        positions,
        positions.map((_, i) => (positions[0] as number) + i),
        'consecutive positions: nothing lost, nothing twice',
      );
      t.true(events.every((e) => e.job_id.startsWith('ev-r')));
      t.regex(result.stderr, /connection lost .*resuming after id \d+/);
      t.is((result.stderr.match(/connection lost/g) ?? []).length, 2, 'it reconnected twice');
    } finally {
      await proxy.close();
    }
  },
);

test('events tail: no server and a wrong token fail at once with exit 1', async (t) => {
  const down = await runCli(['events', 'tail', '--url', world.deadUrl]);
  t.is(down.code, 1);
  t.regex(down.stderr, /cannot reach the operator server/);
  const bad = await runCli(['events', 'tail', 'ev-a', '--url', world.url, '--token', 'wrong-token-123']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /refused the token/);
});

test('events replay: the history in order, with its original timing scaled by --speed', async (t) => {
  // ev-a's commands were stamped 2 s apart: at 20x, about 100 ms between events.
  const all = lines((await runCli(world.remote('events', 'read', 'ev-a', '--json'))).stdout);
  const span =
    Date.parse((all.at(-1) as unknown as { ts: string }).ts) -
    Date.parse((all[0] as unknown as { ts: string }).ts);
  const slow = await runCli(world.remote('events', 'replay', 'ev-a', '--speed', '20x', '--json'));
  t.is(slow.code, 0, slow.stderr);
  t.deepEqual(lines(slow.stdout), all);
  t.true(slow.ms >= span / 20, `20x took ${slow.ms} ms for a ${span} ms history`);
  // At 1x the history would take `span`; --max-gap caps each pause.
  const capped = await runCli(
    world.remote('events', 'replay', 'ev-a', '--speed', '1x', '--max-gap', '0.05', '--json'),
  );
  t.deepEqual(lines(capped.stdout), all);
  // From the first line printed to the last: the process's start-up (slow on a busy machine) is not replay.
  t.true(
    capped.outputMs < span / 2,
    `capped replay printed for ${capped.outputMs} ms over a ${span} ms history`,
  );
  const human = await runCli(
    world.remote('events', 'replay', 'ev-a', '--speed', '1000', '--type', 'gate_approved'),
  );
  t.regex(
    human.stdout,
    /^\S+ #\d+ gate_approved \[review\] paused by root: gate review approved by root: fine\n$/,
  );
  t.is(human.stdout.trimEnd().split('\n').length, 1);
  const bad = await runCli(world.remote('events', 'replay', 'ev-a', '--speed', 'fast'));
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--speed must be a positive factor/);
});

test('events export: canonical NDJSON from the local store, by position range and job, to stdout or a file', async (t) => {
  await settle(world);
  const res = await world.api('/events?after=-1&limit=1000');
  const fromApi = ((await res.json()) as { events: Ev[] }).events;
  // up to the last event the API listed: the file's other tests append while this one runs
  const last = fromApi.at(-1)?.position as string;
  const all = await runCli(world.local('events', 'export', '--from', '0', '--to', last));
  t.is(all.code, 0, all.stderr);
  t.deepEqual(lines(all.stdout), fromApi);
  t.regex(
    all.stderr,
    new RegExp(`^exported ${fromApi.length} events \\(positions 0\\.\\.${fromApi.length - 1}\\)`),
  );
  const range = await runCli(world.local('events', 'export', '--from', '3', '--to', '7', '-q'));
  t.deepEqual(
    lines(range.stdout).map((e) => e.position),
    ['3', '4', '5', '6', '7'],
  );
  t.is(range.stderr, '');
  const out = join(world.dir, 'ev-b.ndjson');
  const job = await runCli(world.local('events', 'export', '--from', '0', '--job', 'ev-b', '--out', out));
  t.is(job.code, 0, job.stderr);
  t.deepEqual(
    lines(await readFile(out, 'utf8')),
    fromApi.filter((e) => e.job_id === 'ev-b'),
  );
  await t.throwsAsync(readFile(`${out}.partial`), { code: 'ENOENT' });
  t.is((await stat(out)).mode & 0o777, 0o600, "every job's events: owner only");
  const intoDir = await runCli(world.local('events', 'export', '--from', '0', '--out', world.dir));
  t.is(intoDir.code, 2);
  t.regex(intoDir.stderr, /^operator: --out .* is a directory: name the file to write\n$/);
  const noStore = await runCli(['events', 'export', '--from', '0', '--data-dir', join(world.dir, 'nowhere')]);
  t.is(noStore.code, 1);
  t.regex(noStore.stderr, /^operator: no event store at .*nowhere\/store\n.*--data-dir/);
  const noFrom = await runCli(world.local('events', 'export'));
  t.not(noFrom.code, 0);
  t.regex(noFrom.stderr, /required option '--from <position>'/);
});

test('events export --out: never writes through a planted link, refuses a link, FIFO or empty name as --out', async (t) => {
  const dir = await mkdtemp(join(world.dir, 'out-'));
  const out = join(dir, 'audit.ndjson');
  // A link planted under the name the temp file used to have (<out>.partial) toward a file of the user's.
  const victim = join(dir, 'victim.txt');
  await writeFile(victim, 'precious\n', { mode: 0o644 });
  await symlink(victim, `${out}.partial`);
  const res = await runCli(world.local('events', 'export', '--from', '0', '--out', out));
  t.is(res.code, 0, res.stderr);
  t.is(await readFile(victim, 'utf8'), 'precious\n');
  t.is(await readlink(`${out}.partial`), victim);
  t.true((await lstat(out)).isFile());
  t.is((await stat(out)).mode & 0o777, 0o600);
  t.is((await runCli(['audit', 'verify', out])).code, 0);
  t.deepEqual((await readdir(dir)).sort(), ['audit.ndjson', 'audit.ndjson.partial', 'victim.txt']);

  // --out itself a link, a FIFO: refused in one line (exit 2), left as they were.
  const link = join(dir, 'link.ndjson');
  await symlink(victim, link);
  const onLink = await runCli(world.local('events', 'export', '--from', '0', '--out', link));
  t.is(onLink.code, 2);
  t.regex(
    onLink.stderr,
    /^operator: --out .*link\.ndjson is a symbolic link: name a regular file, or a new one\n$/,
  );
  t.is(await readlink(link), victim);
  t.is(await readFile(victim, 'utf8'), 'precious\n');
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const onFifo = await runCli(world.local('events', 'export', '--from', '0', '--out', fifo));
  t.is(onFifo.code, 2);
  t.regex(onFifo.stderr, /^operator: --out .*fifo is not a regular file \(a FIFO, device or socket\)/);
  t.true((await lstat(fifo)).isFIFO());

  // An empty --out is a usage error; nothing is written where the command runs.
  const empty = await runCli(world.local('events', 'export', '--from', '0', '--out', ''), { cwd: dir });
  t.is(empty.code, 2);
  t.regex(empty.stderr, /^operator: --out must name a file/);
  t.deepEqual((await readdir(dir)).sort(), [
    'audit.ndjson',
    'audit.ndjson.partial',
    'fifo',
    'link.ndjson',
    'victim.txt',
  ]);
});

test('events export: two exports at once to one --out both finish, and the file is one whole chain', async (t) => {
  // A store of its own with enough events (about 8,600) for the two exports to overlap.
  const own = await cliWorld();
  t.teardown(() => own.cleanup());
  const store = await openLmdbEventStore({ path: join(own.config.storage.data_dir, 'store') });
  await new JobTraffic(store).runMany({ jobs: 1000, concurrency: 100 });
  const head = await store.headPosition();
  await store.close();
  const out = join(own.dir, 'audit.ndjson');
  const [a, b] = await Promise.all(
    [1, 2].map(() => runCli(own.local('events', 'export', '--from', '0', '--out', out, '-q'))),
  );
  t.deepEqual([a?.code, a?.stderr, b?.code, b?.stderr], [0, '', 0, '']);
  const verify = await runCli(['audit', 'verify', out, '--json']);
  t.is(verify.code, 0, verify.stdout);
  t.like(JSON.parse(verify.stdout), { ok: true, events: Number(head) + 1 });
  t.deepEqual(
    (await readdir(own.dir)).filter((name) => name.startsWith('audit.ndjson')),
    ['audit.ndjson'],
  );

  // Ctrl-C while the temp file is being written: it is removed, and --out never appears.
  const interrupted = join(own.dir, 'interrupted.ndjson');
  const cut = new CliProcess(own.local('events', 'export', '--from', '0', '--out', interrupted));
  t.teardown(() => cut.child.kill('SIGKILL'));
  const writing = () =>
    readdirSync(own.dir).some((name) => /^interrupted\.ndjson\.[0-9a-f]+\.partial$/.test(name));
  await cut.waitFor(writing);
  cut.child.kill('SIGINT');
  const result = await cut.exited;
  t.is(result.code, 130);
  t.regex(result.stderr, /^operator: export interrupted; nothing written to --out\n$/);
  t.deepEqual(
    (await readdir(own.dir)).filter((name) => name.startsWith('interrupted')),
    [],
  );
});

test("events export: a position past the store's limit is a usage error naming the limit", async (t) => {
  for (const args of [
    ['--from', '9007199254740993'],
    ['--from', '0', '--to', '12345678901234567890123456'],
  ]) {
    const res = await runCli(world.local('events', 'export', ...args));
    t.is(res.code, 2, res.stderr);
    t.regex(
      res.stderr,
      /^operator: --(from|to) must be a store position: a decimal number from 0 to 9007199254740991 \(2\^53 - 1, this store's limit\)\n$/,
    );
  }
});

test('events export > /dev/full: one line naming the write error, exit 1', async (t) => {
  const full = openSync('/dev/full', 'w');
  t.teardown(() => closeSync(full));
  const res = await runCli(world.local('events', 'export', '--from', '0'), { stdoutFd: full });
  t.is(res.code, 1);
  t.regex(res.stderr, /^operator: cannot write the output: ENOSPC: no space left on device, write\n$/);
});

interface Proxy {
  url: string;
  connections: number;
  total: number;
  dropAll(): void;
  close(): Promise<void>;
}

/** A TCP proxy in front of the server whose connections the test can cut, as a flaky network would. */
async function startProxy(targetPort: string): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const proxy: Proxy = {
    url: '',
    connections: 0,
    total: 0,
    dropAll: () => {
      for (const s of sockets) s.destroy();
    },
    close: () => {
      proxy.dropAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  const server = createServer((client) => {
    const upstream = connect(Number(targetPort), '127.0.0.1');
    proxy.connections++;
    proxy.total++;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.once('close', () => proxy.connections--);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

test.serial(
  'events tail across a server restart: the shutdown frame is not printed as an event, and it goes on after the restart',
  async (t) => {
    // From the head as it is now: the events after it, whenever the tail's first connection comes.
    const head = (await world.server?.deps.store.headPosition()) as string;
    const tail = new CliProcess([
      'events',
      'tail',
      '--json',
      ...world.remote(),
      '--after',
      head,
      '--count',
      '8',
    ]);
    t.teardown(() => tail.child.kill('SIGKILL'));
    await advance(world, 'ev-s1', 'running'); // 4 events
    await tail.waitFor((out) => lines(out).length >= 4);
    const port = world.server?.port as number;
    await world.stop();
    world.config.server.port = port;
    await world.start();
    await advance(world, 'ev-s2', 'running'); // 4 more
    const result = await tail.exited;
    t.is(result.code, 0, result.stderr);
    const events = lines(result.stdout);
    t.deepEqual(
      events.map((e) => e.job_id),
      [...Array(4).fill('ev-s1'), ...Array(4).fill('ev-s2')],
    );
    t.true(events.every((e) => typeof e.type === 'string' && typeof e.position === 'string'));
  },
);
