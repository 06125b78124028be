import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import test from 'ava';
import type { JobEvent } from '../../src/domain/events.ts';
import { createJob, ended, waitForEvents } from '../helpers/runnerHarness.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { startTestServer } from '../helpers/testServer.ts';

/**
 * Door: files of the run dir. A stage runs in `runs/<id>/work/` and can reach `../logs/`. A link (symbolic
 * or hard) it plants as the next stage's log or pid file must not make the runner write into the file it
 * points to, nor the log route serve it: the runner refuses the file (O_NOFOLLOW, one name, regular), fails
 * that attempt before its command starts with a message that says why, and logs it at error; the route
 * answers 409 with the error shape.
 */

const VICTIM_TEXT = 'auth:\n  tokens: [{ name: admin, token: do-not-leak-me-0001, role: admin }]\n';

let server: TestServer;
let outside: string;
let victim: string;

test.before(async () => {
  outside = await mkdtemp(join(tmpdir(), 'operator-outside-'));
  victim = join(outside, 'operator.yaml');
  await writeFile(victim, VICTIM_TEXT);
  // logs/ swapped for a link in one rename: a plain `mv logs logs.old && ln -s X logs` loses to the runner or
  // the log projection making logs/ again in between (ln then puts the link inside the new directory).
  const swapLogsFor = (target: string) =>
    `ln -s ${target} ../logs.new && while ! mv -T ../logs.new ../logs 2>/dev/null; do rm -rf ../logs.old && mv -T ../logs ../logs.old; done`;
  const plant = (command: string) => ({
    stages: [
      { name: 'first', env: { VICTIM: victim }, run: command },
      { name: 'second', run: 'echo started > second-ran.txt; echo "appended by second"' },
    ],
  });
  server = await startTestServer(
    {
      pipeline: { default: 'symlog' },
      pipelines: {
        symlog: plant('ln -s "$VICTIM" ../logs/second.log'),
        hardlog: plant('ln "$VICTIM" ../logs/second.log'),
        sympid: plant('ln -s "$VICTIM" ../logs/second.pid'),
        symdir: plant(swapLogsFor('"$(dirname "$VICTIM")"')),
        // Its own logs/ swapped, while it runs, for a link to a dir holding a file named like its pid file.
        ownpid: plant(
          `mkdir -p "$(dirname "$VICTIM")/pids" && echo keep > "$(dirname "$VICTIM")/pids/first.pid" && ${swapLogsFor('"$(dirname "$VICTIM")/pids"')}`,
        ),
      },
    },
    { runner: true },
  );
});

test.after.always(async () => {
  await server?.stop();
  await rm(outside, { recursive: true, force: true });
});

/** Runs a job of `pipeline` to its end; asserts the file its first stage links to is unchanged. */
async function runPlanted(
  t: ExecutionContext,
  pipeline: string,
): Promise<{ jobId: string; events: JobEvent[] }> {
  const before = await stat(victim);
  const jobId = await createJob(server, pipeline);
  const events = await waitForEvents(server, jobId, 'the job to end', ended);
  const after = await stat(victim);
  t.is(await readFile(victim, 'utf8'), VICTIM_TEXT, 'the file the link points to is unchanged');
  t.is(after.size, before.size);
  t.is(after.mtimeMs, before.mtimeMs);
  return { jobId, events };
}

for (const [pipeline, file, why] of [
  ['symlog', 'logs/second.log', 'is a symbolic link'],
  ['hardlog', 'logs/second.log', 'has 2 names (a hard link)'],
  ['sympid', 'logs/second.pid', 'is a symbolic link'],
  ['symdir', 'logs', 'is not a directory (a symbolic link?)'],
] as const) {
  test.serial(
    `stage log links: ${pipeline} (${file}) fails the next attempt before it starts; the target is unchanged`,
    async (t) => {
      const logLinesBefore = server.logLines.length;
      const { jobId, events } = await runPlanted(t, pipeline);
      const failed = events.find((e) => e.type === 'stage_failed' && e.stage === 'second');
      t.truthy(failed, JSON.stringify(events.map((e) => [e.type, e.stage])));
      t.is(failed?.payload['reason'], `cannot start the command: ${file} ${why}: not opened`);
      t.is(events.at(-1)?.type, 'job_failed');
      // The command never ran: nothing of it in the work dir.
      await t.throwsAsync(stat(join(server.config.storage.runs_dir, jobId, 'work', 'second-ran.txt')));
      const errors = server.logLines
        .slice(logLinesBefore)
        .map((l) => JSON.parse(l) as { level: number; msg: string; job_id?: string })
        .filter((l) => l.level >= 50 && l.job_id === jobId);
      t.true(
        errors.some((l) => l.msg === 'runner: cannot start a stage command'),
        'the runner reports it at error',
      );
    },
  );
}

test.serial(
  'stage log links: the log route answers 409 with the error shape for a planted link, plain and follow',
  async (t) => {
    for (const pipeline of ['symlog', 'hardlog']) {
      const { jobId } = await runPlanted(t, pipeline);
      for (const query of ['', '?follow=1']) {
        const res = await server.api(`/jobs/${jobId}/stages/second/log${query}`, { as: 'viewer' });
        const body = await res.text();
        t.is(res.status, 409, `${pipeline}${query}: ${body}`);
        t.false(body.includes('do-not-leak-me'), 'the target is not served');
        const error = (JSON.parse(body) as { error: { code: string; message: string } }).error;
        t.is(error.code, 'unsafe_file');
        t.regex(error.message, /logs\/second\.log/);
      }
      // The stage that planted it still has its own log, served as usual.
      t.is((await server.api(`/jobs/${jobId}/stages/first/log`, { as: 'viewer' })).status, 200);
    }
  },
);

test.serial(
  'stage log links: a stage that swaps its own logs/ for a link while it runs: the runner never removes its pid file through it',
  async (t) => {
    const jobId = await createJob(server, 'ownpid');
    await waitForEvents(server, jobId, 'the job to end', ended);
    t.is(await readFile(join(outside, 'pids', 'first.pid'), 'utf8'), 'keep\n');
  },
);
