import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobEvent } from '../../src/domain/events.ts';
import type { RunnerClock } from '../../src/runner/index.ts';
import type { TestServer } from './testServer.ts';
import { json } from './testServer.ts';

/** Polls `probe` until it returns something other than undefined/false; throws with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Creates a job over the API and returns its id. */
export async function createJob(
  server: TestServer,
  pipeline: string,
  params: Record<string, unknown> = {},
  as: 'admin' | 'operator' = 'operator',
): Promise<string> {
  const res = await server.api('/jobs', { method: 'POST', json: { pipeline, params }, as });
  if (res.status !== 201) throw new Error(`create ${pipeline}: ${res.status} ${await res.text()}`);
  return (await json<{ job: { job_id: string } }>(res)).job.job_id;
}

/** The job's events from the read model (polling API), oldest first. */
export async function jobEvents(server: TestServer, jobId: string): Promise<JobEvent[]> {
  const res = await server.api(`/jobs/${jobId}/events?after=-1&limit=1000`);
  if (res.status !== 200) throw new Error(`events of ${jobId}: ${res.status} ${await res.text()}`);
  return (await json<{ events: JobEvent[] }>(res)).events;
}

/** Waits until the job's events satisfy `done`; returns them. */
export function waitForEvents(
  server: TestServer,
  jobId: string,
  what: string,
  done: (events: JobEvent[]) => boolean,
  timeoutMs = 10_000,
): Promise<JobEvent[]> {
  return waitFor(
    `${what} (job ${jobId})`,
    async () => {
      const events = await jobEvents(server, jobId);
      return done(events) ? events : undefined;
    },
    timeoutMs,
  );
}

export const hasType = (type: JobEvent['type']) => (events: JobEvent[]) =>
  events.some((e) => e.type === type);
export const isTerminalType = (type: string) =>
  ['job_completed', 'job_failed', 'job_canceled'].includes(type);
export const ended = (events: JobEvent[]) => events.some((e) => isTerminalType(e.type));
export const typesOf = (events: JobEvent[]) => events.map((e) => e.type);

/** Alive and not a zombie (a zombie has exited; it only waits for its parent to reap it). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export async function waitGone(pid: number, timeoutMs = 5000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > until) return false;
    await sleep(25);
  }
  return true;
}

/** Reads `pid <n>` lines that stage commands print (`echo "pid $$"`) from the stage's log, over the API. */
export async function stagePids(server: TestServer, jobId: string, stage: string): Promise<number[]> {
  const res = await server.api(`/jobs/${jobId}/stages/${stage}/log`);
  if (res.status !== 200) return [];
  return [...(await res.text()).matchAll(/ stdout pid (\d+)$/gm)].map((m) => Number(m[1]));
}

export function waitForPid(server: TestServer, jobId: string, stage: string, count = 1): Promise<number> {
  return waitFor(`pid ${count} of ${jobId}/${stage}`, async () => {
    const pids = await stagePids(server, jobId, stage);
    return pids.length >= count ? pids[count - 1] : undefined;
  });
}

export interface ManualClock extends RunnerClock {
  /** Moves time forward and runs every timer that came due, in order. */
  advance(ms: number): void;
  /** Timers waiting. */
  readonly pending: number;
}

/** A clock that moves only when told to; wall time runs on from `start` between advances is ignored. */
export function manualClock(start = new Date('2026-11-24T10:00:00.000Z')): ManualClock {
  let now = start.getTime();
  let nextId = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => new Date(now),
    setTimer(ms, fn) {
      if (ms <= 0) {
        const timer = setImmediate(fn);
        return () => clearImmediate(timer);
      }
      const id = nextId++;
      timers.set(id, { at: now + Math.max(0, ms), fn });
      return () => timers.delete(id);
    },
    advance(ms) {
      now += ms;
      const due = [...timers.entries()].filter(([, t]) => t.at <= now).sort((a, b) => a[1].at - b[1].at);
      for (const [id, timer] of due) {
        timers.delete(id);
        timer.fn();
      }
    },
    get pending() {
      return timers.size;
    },
  };
}
