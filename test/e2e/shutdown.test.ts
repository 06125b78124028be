import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import { serveChild, writeServeConfig } from '../helpers/serveChild.ts';

/** `operator serve` in a child process with a one-stage pipeline and dirs of its own, killed and removed after the test. */
async function soloServer(t: ExecutionContext) {
  const dir = await mkdtemp(join(tmpdir(), 'operator-shutdown-'));
  const configPath = await writeServeConfig(dir, [
    'pipeline: {default: solo}',
    'pipelines: {solo: {stages: [{name: one}]}}',
  ]);
  const server = await serveChild(configPath);
  t.teardown(async () => {
    server.child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  return server;
}

test('the process exits by itself, with code 0, after SIGTERM with 500 open streams', async (t) => {
  const server = await soloServer(t);
  const { port } = server;
  const sockets: Socket[] = [];
  let connected = 0;
  await Promise.all(
    Array.from(
      { length: 500 },
      () =>
        new Promise<void>((resolve) => {
          const socket = connect(port, '127.0.0.1', () => {
            socket.write(
              'GET /api/v1/events/stream?access_token=default-admin-token-change-me HTTP/1.1\r\nHost: x\r\n\r\n',
            );
          });
          socket.on('error', () => resolve());
          socket.once('data', () => {
            connected++;
            resolve();
          });
          sockets.push(socket);
        }),
    ),
  );
  t.is(connected, 500);
  const started = Date.now();
  server.child.kill('SIGTERM');
  t.is((await server.exited).code, 0);
  t.true(Date.now() - started < 8000, `took ${Date.now() - started} ms`);
  for (const s of sockets) s.destroy();
});

test('long-polls waiting at SIGTERM are answered (200, no events), not cut off', async (t) => {
  const server = await soloServer(t);
  const auth = { authorization: 'Bearer default-admin-token-change-me' };
  const created = await fetch(`http://127.0.0.1:${server.port}/api/v1/jobs`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'poll-1' }),
  });
  t.is(created.status, 201);
  const polls = ['/jobs/poll-1/events?after=5&wait=25', '/events?after=100&wait=25'].map((path) =>
    fetch(`http://127.0.0.1:${server.port}/api/v1${path}`, { headers: auth }).then(
      async (res) => ({ path, status: res.status, body: (await res.json()) as { events: unknown[] } }),
      (error: unknown) => ({ path, status: 0, body: { events: [] }, error: String(error) }),
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, 500));
  server.child.kill('SIGTERM');
  for (const answer of await Promise.all(polls)) {
    t.is(answer.status, 200, JSON.stringify(answer));
    t.deepEqual(answer.body.events, [], answer.path);
  }
  t.is((await server.exited).code, 0);
});
