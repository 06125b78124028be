import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseProcStat } from '../infra/procStat.ts';

/** Sends `signal` to every process of group `pgid`; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return false;
    // EPERM: the group exists but is not ours to signal; treat it as gone for us.
    if (code === 'EPERM') return false;
    throw error;
  }
}

interface ProcStat {
  pid: number;
  state: string;
  pgrp: number;
}

/** `/proc/<pid>/stat`, parsed. */
async function readStat(pid: number): Promise<ProcStat | null> {
  try {
    return { pid, ...parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8')) };
  } catch {
    return null;
  }
}

/**
 * The live (not zombie) processes of group `pgid`, read from `/proc`; null where there is no `/proc` (the
 * caller then cannot tell whose group it is).
 */
export async function groupMembers(pgid: number): Promise<number[] | null> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return null;
  }
  const members: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readStat(Number(entry));
    if (stat && stat.pgrp === pgid && stat.state !== 'Z') members.push(stat.pid);
  }
  return members;
}

/** True when one of `pids` has every `NAME=value` of `marks` in its environment (`/proc/<pid>/environ`). */
export async function hasEnvironment(
  pids: readonly number[],
  marks: Record<string, string>,
): Promise<boolean> {
  const wanted = Object.entries(marks).map(([k, v]) => `${k}=${v}`);
  for (const pid of pids) {
    try {
      const vars = new Set((await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0'));
      if (wanted.every((w) => vars.has(w))) return true;
    } catch {
      // gone meanwhile, or not readable: not ours
    }
  }
  return false;
}

/** Waits until group `pgid` has no live process, polling `/proc` (zombies count as gone); false on timeout. */
export async function waitForGroupExit(pgid: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const members = await groupMembers(pgid);
    const alive = members === null ? signalGroup(pgid, 0) : members.length > 0;
    if (!alive) return true;
    if (Date.now() >= until) return false;
    await sleep(50);
  }
}

/**
 * Ends a process group that is not our child (an orphan of an earlier run of the operator): SIGTERM, then
 * SIGKILL after `graceMs`. Resolves true once nothing of it is left alive.
 */
export async function terminateGroup(pgid: number, graceMs: number): Promise<boolean> {
  if (!signalGroup(pgid, 'SIGTERM')) return true;
  if (await waitForGroupExit(pgid, graceMs)) return true;
  signalGroup(pgid, 'SIGKILL');
  return waitForGroupExit(pgid, 2000);
}
