import { lstat, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import test from 'ava';
import { CliProcess } from '../helpers/cli.ts';
import { waitFor } from '../helpers/runnerHarness.ts';
import { TOKENS, testConfig } from '../helpers/testServer.ts';

/**
 * Door: files. What the server creates under `data/` and `runs/` (the store, the read model, run dirs,
 * projections, params, stage logs, and what its stage commands write) is owner-only: directories 0700,
 * files 0600, whatever the umask of the shell that started `operator serve`.
 */

/** Every entry under `dir` (itself included), with its mode bits; links are listed, not followed. */
async function walk(dir: string): Promise<{ path: string; mode: number; kind: string }[]> {
  const stats = await lstat(dir);
  const found = [{ path: dir, mode: stats.mode & 0o7777, kind: stats.isDirectory() ? 'dir' : 'file' }];
  if (!stats.isDirectory()) return found;
  for (const name of await readdir(dir)) found.push(...(await walk(join(dir, name))));
  return found;
}

test('file permissions: a real `operator serve` creates data/ and runs/ 0700 and every file under them without group or other bits', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'operator-perms-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const config = testConfig(dir, {
    server: { port: 0, host: '127.0.0.1', log_level: 'info' },
    pipeline: { default: 'writes' },
    pipelines: {
      writes: {
        stages: [{ name: 'make', run: 'echo made > made.txt; mkdir -p sub && echo x > sub/y.txt; echo out' }],
      },
    },
  });
  const configPath = join(dir, 'operator.json');
  await writeFile(configPath, JSON.stringify(config));
  // The shell that starts it has the common umask: group and others may read what it creates.
  const previous = process.umask(0o022);
  const serve = new CliProcess(['serve', '-c', configPath]);
  process.umask(previous);
  t.teardown(async () => {
    serve.child.kill('SIGTERM');
    const killer = setTimeout(() => serve.child.kill('SIGKILL'), 8000);
    await serve.exited;
    clearTimeout(killer);
  });
  await serve.waitFor((out) => /operator listening on http:\/\/[^"\s]+/.test(out));
  const url = /operator listening on (http:\/\/[^"\s]+)/.exec(serve.stdout)?.[1] as string;
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${url}/api/v1${path}`, {
      ...init,
      headers: { authorization: `Bearer ${TOKENS.admin}`, 'content-type': 'application/json' },
    });
  const created = await api('/jobs', { method: 'POST', body: JSON.stringify({ params: { a: 1 } }) });
  t.is(created.status, 201);
  const jobId = ((await created.json()) as { job: { job_id: string } }).job.job_id;
  await waitFor('the job to complete', async () => {
    const res = await api(`/jobs/${jobId}`);
    const body = (await res.json()) as { job?: { status?: string }; status?: string };
    return (body.job?.status ?? body.status) === 'completed';
  });
  // Files the projections and the runner wrote, all there by now.
  const run = join(config.storage.runs_dir, jobId);
  await waitFor('the job files', async () => {
    const names: string[] = await readdir(run).catch(() => []);
    return ['events.jsonl', 'state.json', 'params.json', 'logs', 'work'].every((n) => names.includes(n));
  });

  const entries = [...(await walk(config.storage.data_dir)), ...(await walk(config.storage.runs_dir))];
  const open = entries.filter((e) => (e.mode & 0o077) !== 0);
  t.deepEqual(
    open.map((e) => `${relative(dir, e.path)} ${e.mode.toString(8)}`),
    [],
    'nothing readable by group or others',
  );
  const modeOf = (path: string) => entries.find((e) => e.path === path)?.mode;
  t.is(modeOf(config.storage.data_dir), 0o700);
  t.is(modeOf(config.storage.runs_dir), 0o700);
  t.is(modeOf(run), 0o700);
  t.is(modeOf(join(run, 'logs', 'make.log')), 0o600);
  t.is(modeOf(join(run, 'params.json')), 0o600);
  t.is(modeOf(join(run, 'work', 'made.txt')), 0o600, 'what a stage writes inherits the umask');
  t.true(entries.some((e) => e.path.endsWith('data.mdb') && e.mode === 0o600));
  t.true(entries.length > 15, `walked ${entries.length} entries`);
});
