import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { benchDir } from '../lib/benchConfig.ts';
import { stopAllChildren } from '../lib/nodeChild.ts';
import { sleep } from '../lib/stats.ts';
import type { FaultOptions, FaultReport } from './faultReport.ts';
import { FaultRecorder } from './faultReport.ts';
import { api, startedAnyway, startServe, waitCaughtUp } from './serveChild.ts';
import { cliVerify, jsonlProblems, readStoreJobs, verifyProjections } from './verifyProjections.ts';

const WRITERS = 20;
const STAGES = 10;

interface Acked {
  job_id: string;
  seq: number;
}

interface Counters {
  acked: number;
  refused: number;
  failed: number;
}

/** The API calls that take one job of the `kill` pipeline from creation to completion. */
function jobSteps(jobId: string): { path: string; body: unknown }[] {
  const steps: { path: string; body: unknown }[] = [
    { path: '/jobs', body: { id: jobId, pipeline: 'kill' } },
    { path: `/jobs/${jobId}/start`, body: undefined },
  ];
  for (let i = 1; i <= STAGES; i++) {
    steps.push({ path: `/jobs/${jobId}/stages/s${i}/start`, body: { payload: { writer: jobId } } });
    steps.push({ path: `/jobs/${jobId}/stages/s${i}/complete`, body: { duration_ms: 1 } });
  }
  return steps;
}

/** Creates and drives jobs through the API until aborted; records every event of every 2xx answer. */
async function writer(
  url: string,
  name: string,
  signal: AbortSignal,
  acked: Map<string, Acked>,
  counters: Counters,
): Promise<void> {
  for (let n = 0; !signal.aborted; n++) {
    const jobId = `${name}j${n}`;
    for (const step of jobSteps(jobId)) {
      try {
        const r = await api<{ events?: { id: string; job_id: string; seq: number }[] }>(
          url,
          'POST',
          step.path,
          step.body,
          signal,
        );
        if (r.status >= 200 && r.status < 300) {
          for (const e of r.body.events ?? []) acked.set(e.id, { job_id: e.job_id, seq: e.seq });
          counters.acked++;
        } else if (!startedAnyway(r, step.path)) {
          counters.refused++; // e.g. a runner started the job first: go on with a new job
          break;
        }
      } catch {
        if (signal.aborted) return;
        counters.failed++;
        await sleep(20);
        break;
      }
    }
  }
}

/**
 * `rounds` times: start `operator serve`, 20 writers appending through the API, `kill -9` at a random
 * moment. Then a clean start until the projections caught up, a clean stop, and the checks: every
 * acknowledged event is in the store at its seq, events.jsonl is whole and without duplicates, and the
 * projections verify clean.
 */
export async function killLoopScenario(options: FaultOptions): Promise<FaultReport> {
  const rounds = options.short ? 3 : 20;
  const rec = new FaultRecorder('kill -9 loop', options.log);
  const dir = await benchDir('faults-kill', {
    pipelines: { kill: { stages: Array.from({ length: STAGES }, (_, i) => ({ name: `s${i + 1}` })) } },
  });
  const acked = new Map<string, Acked>();
  const counters: Counters = { acked: 0, refused: 0, failed: 0 };
  const kills: number[] = [];
  const lostPerRound: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const served = await startServe(dir.configPath);
      const stop = new AbortController();
      const writers = Array.from({ length: WRITERS }, (_, w) =>
        writer(served.url, `r${round}w${w}`, stop.signal, acked, counters),
      );
      const killAfter = Math.round(50 + Math.random() * 1950);
      await sleep(killAfter);
      served.child.kill('SIGKILL');
      const exit = await served.child.exited;
      stop.abort();
      await Promise.allSettled(writers);
      kills.push(killAfter);
      const stored = await readStoreJobs(dir.dataDir);
      const lost = [...acked.keys()].filter((id) => !stored.ids.has(id)).length;
      lostPerRound.push(lost);
      options.log(
        `round ${round + 1}/${rounds}: killed (${exit.signal}) after ${killAfter} ms; ${acked.size} events acknowledged so far, ${stored.total} in the store, ${lost} acknowledged ones missing`,
      );
    }
    rec.action(
      `${rounds} rounds of: operator serve, ${WRITERS} writers creating and driving jobs through the API (${counters.acked} commands answered 2xx, ${counters.refused} refused, ${counters.failed} cut by the kill), kill -9 after ${Math.min(...kills)}..${Math.max(...kills)} ms`,
    );
    const served = await startServe(dir.configPath);
    const caught = await waitCaughtUp(served.url, 120_000);
    served.child.kill('SIGTERM');
    const exit = await served.child.exited;
    rec.action(
      `restarted once more, projections caught up to position ${caught.head}, stopped with SIGTERM (exit ${exit.code})`,
    );

    const stored = await readStoreJobs(dir.dataDir);
    const missing = [...acked.entries()].filter(([id]) => !stored.ids.has(id));
    const moved = [...acked.entries()].filter(([id, a]) => {
      const s = stored.ids.get(id);
      return s !== undefined && (s.job_id !== a.job_id || s.seq !== a.seq);
    });
    rec.check(
      '0 acknowledged events lost',
      missing.length === 0 && lostPerRound.every((n) => n === 0),
      `${acked.size} events acknowledged with 2xx, ${missing.length} missing from the store after all rounds (per round: ${lostPerRound.join(',')}); ${stored.total} events in the store`,
    );
    rec.check(
      'acknowledged events keep their job and seq',
      moved.length === 0,
      `${moved.length} found elsewhere`,
    );
    const jsonl: string[] = [];
    for (const [jobId, events] of stored.jobs) {
      const text = await readFile(join(dir.runsDir, jobId, 'events.jsonl'), 'utf8').catch(() => null);
      jsonl.push(...jsonlProblems(jobId, text, events.length));
    }
    rec.check(
      'events.jsonl: no torn line, no duplicate seq, every event',
      jsonl.length === 0,
      jsonl.length === 0 ? `${stored.jobs.size} jobs' files checked` : jsonl.slice(0, 5).join('; '),
    );
    const problems = await verifyProjections(dir.dataDir, dir.runsDir, stored);
    rec.check(
      'job files equal what the store says (expectedJobFiles, byte for byte)',
      problems.length === 0,
      problems.length === 0
        ? `${stored.jobs.size} jobs: events.jsonl, state.json, gates/*.json equal`
        : `${problems.length} problems: ${problems.slice(0, 5).join('; ')}`,
    );
    const cli = cliVerify(dir.configPath);
    rec.check('operator projections verify exits 0 (files and read model)', cli.ok, cli.output);
    rec.details['acked'] = acked.size;
    rec.details['storeEvents'] = stored.total;
    rec.details['kills'] = kills;
    rec.details['counters'] = counters;
  } finally {
    await stopAllChildren(); // a failed check must not leave a server writing into the dir
    await dir.remove();
  }
  return rec.report();
}
