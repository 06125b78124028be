import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { serveChild, writeServeConfig } from '../helpers/serveChild.ts';

test('the process exits by itself, with code 0, after SIGTERM with 500 open streams', async (t) => {
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
