import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import type { OutputStream } from '../../../src/runner/stageSpawner.ts';
import { StageSpawner } from '../../../src/runner/stageSpawner.ts';

let dir: string;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stage-spawner-'));
});

test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

function collect(): { out: Record<OutputStream, string>; onOutput: (s: OutputStream, c: Buffer) => void } {
  const out: Record<OutputStream, string> = { stdout: '', stderr: '' };
  return { out, onOutput: (stream, chunk) => (out[stream] += chunk.toString('utf8')) };
}

test('a command started from the thread leads its own group, in its dir and env, and reports its output and exit', async (t) => {
  const spawner = new StageSpawner();
  const { out, onOutput } = collect();
  const child = await spawner.spawn({
    run: 'echo "$GREETING from $(pwd)"; echo oops >&2; sleep 0.2; exit 3',
    cwd: dir,
    env: { GREETING: 'hello', PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    onOutput,
  });
  t.true(child.pid > 0);
  // Its own process group, led by the pid the thread reported: the runner signals the group by that id.
  t.notThrows(() => process.kill(-child.pid, 0));
  const exit = await child.exited;
  await child.closed;
  t.is(exit.code, 3);
  t.is(exit.signal, null);
  t.true(Number(exit.atNs - child.startedNs) / 1e6 >= 200);
  t.is(out.stdout, `hello from ${dir}\n`);
  t.is(out.stderr, 'oops\n');
});

test('a command killed through its group reports the signal', async (t) => {
  const spawner = new StageSpawner();
  const child = await spawner.spawn({ run: 'sleep 30', cwd: dir, env: {}, onOutput: () => {} });
  process.kill(-child.pid, 'SIGKILL');
  const exit = await child.exited;
  t.is(exit.code, null);
  t.is(exit.signal, 'SIGKILL');
});

test('a command that cannot start rejects with the reason, and the thread goes on', async (t) => {
  const spawner = new StageSpawner();
  const error = await t.throwsAsync(
    spawner.spawn({ run: 'true', cwd: join(dir, 'missing'), env: {}, onOutput: () => {} }),
  );
  t.regex(error?.message ?? '', /ENOENT/);
  const child = await spawner.spawn({ run: 'exit 0', cwd: dir, env: {}, onOutput: () => {} });
  t.is((await child.exited).code, 0);
});

test('paused output is held until resumed (the command then blocks on its writes)', async (t) => {
  const spawner = new StageSpawner();
  const { out, onOutput } = collect();
  const marker = join(dir, 'written');
  const child = await spawner.spawn({
    run: `sleep 0.2; echo after; touch ${marker}; sleep 30`,
    cwd: dir,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    onOutput,
  });
  t.teardown(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  child.pause();
  while (!existsSync(marker)) await sleep(20);
  await sleep(100);
  t.is(out.stdout, '');
  child.resume();
  while (out.stdout === '') await sleep(20);
  t.is(out.stdout, 'after\n');
});

test('the thread writes the pid file before it reports the spawn: the record with the group id is there when spawn resolves', async (t) => {
  const spawner = new StageSpawner();
  const path = join(dir, 'stage.pid');
  const file = await open(path, 'w');
  // Something already in the file is replaced, not appended to.
  await file.write('x'.repeat(400), 0);
  const child = await spawner.spawn({
    run: 'sleep 0.2',
    cwd: dir,
    env: { PATH: process.env.PATH ?? '' },
    onOutput: () => {},
    pidFile: { fd: file.fd, record: { job_id: 'j1', stage: 'build', attempt: 2 } },
  });
  const text = await readFile(path, 'utf8');
  await file.close();
  t.is(child.pidFileError, null);
  t.is(text, `${JSON.stringify({ pgid: child.pid, job_id: 'j1', stage: 'build', attempt: 2 })}\n`);
  await child.exited;
});

test('a pid file the thread cannot write is reported, and the command runs all the same', async (t) => {
  const spawner = new StageSpawner();
  const path = join(dir, 'readonly.pid');
  await writeFile(path, '');
  const file = await open(path, 'r');
  const child = await spawner.spawn({
    run: 'exit 0',
    cwd: dir,
    env: { PATH: process.env.PATH ?? '' },
    onOutput: () => {},
    pidFile: { fd: file.fd, record: {} },
  });
  t.regex(child.pidFileError ?? '', /EBADF|EINVAL|bad file descriptor/i);
  t.is((await child.exited).code, 0);
  await file.close();
});

test('discardOutput: the command runs on and its output is read to the end, but no more of it crosses to the main thread', async (t) => {
  const spawner = new StageSpawner();
  const total = 200 * 1024 * 1024;
  let received = 0;
  let child: Awaited<ReturnType<StageSpawner['spawn']>> | undefined;
  const done = join(dir, 'flood-done');
  const spawned = spawner.spawn({
    // 200 MiB as fast as the pipe takes it, then a mark that the command got past its writes.
    run: `head -c ${total} /dev/zero; touch ${done}`,
    cwd: dir,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    onOutput: (_stream, chunk) => {
      // The first chunk is the cut: from here the thread drops what it reads.
      if (received === 0) child?.discardOutput();
      received += chunk.length;
    },
  });
  child = await spawned;
  const exit = await child.exited;
  await child.closed;
  t.is(exit.code, 0, 'the command wrote everything: its output was read, not blocked');
  t.true(existsSync(done));
  t.true(received < total / 4, `${received} of ${total} bytes crossed to the main thread`);
  t.log(
    `${(received / 1048576).toFixed(1)} MiB of ${total / 1048576} MiB crossed before the discard took hold`,
  );
});
