import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';

test('the process exits by itself, with code 0, after SIGTERM with 500 open streams', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'operator-shutdown-'));
  const configPath = join(dir, 'operator.yaml');
  await writeFile(
    configPath,
    [
      'server: {port: 0, host: 127.0.0.1, log_level: info}',
      `storage: {data_dir: ${join(dir, 'data')}, runs_dir: ${join(dir, 'runs')}}`,
      'pipeline: {default: solo}',
      'pipelines: {solo: {stages: [{name: one}]}}',
    ].join('\n'),
  );
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', configPath],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  t.teardown(async () => {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no port announced: ${output}`)), 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
  });
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
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const code = await exit;
  t.is(code, 0);
  t.true(Date.now() - started < 8000, `took ${Date.now() - started} ms`);
  for (const s of sockets) s.destroy();
});
