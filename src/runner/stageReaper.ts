import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readPrivateFile } from '../infra/files/privateFile.ts';
import { listFiles, listJobDirs, PID_SUFFIX, runPaths, stagePaths } from '../infra/files/runsLayout.ts';
import { groupMembers, hasEnvironment, terminateGroup } from './processGroup.ts';
import { appendReaperNote } from './reaperNote.ts';

/** A running reaper: `stop()` after the runner stopped, so it sweeps (nothing, normally) and exits. */
export interface StageReaper {
  stop(): void;
}

/**
 * Ends this operator's stage processes when the operator is gone, however it went (`kill -9`, OOM).
 *
 * Stage commands are detached process groups, so they outlive a crashed operator; on one machine the next
 * start finds them by their pid files (decision 0005). With EventStoreDB another process, with its own runs
 * dir and often on another machine, takes the lease over and retries those stages: it cannot see or end
 * them. So the lease holder starts this small process, in a session of its own, whose stdin is a pipe from
 * the operator. The pipe closes when the operator exits for any reason; the reaper then ends every stage
 * group its runs dir's pid files name (SIGTERM, SIGKILL after the grace), each only after `/proc` shows it
 * still runs that job's stage, and exits. The lease gives it at least two thirds of the lease time before
 * anyone may take over.
 */
export function startStageReaper(options: { runsDir: string; graceMs: number }): StageReaper {
  const main = fileURLToPath(new URL('./stageReaperMain.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), main, options.runsDir, String(options.graceMs)],
    { detached: true, stdio: ['pipe', 'ignore', 'ignore'] },
  );
  child.on('error', () => {});
  child.stdin.on('error', () => {});
  child.unref();
  // The pipe must not keep the operator's event loop alive.
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  return { stop: () => child.stdin.end() };
}

interface PidFile {
  pgid: number;
  job_id: string;
  stage: string;
}

/**
 * Ends every stage process group named by a pid file under `runsDir` that still runs its stage (checked in
 * `/proc`), and removes the pid files of groups that are gone. Returns the groups it ended.
 */
export async function reapStages(runsDir: string, graceMs: number): Promise<number[]> {
  const found: { file: string; pid: PidFile }[] = [];
  for (const jobId of await listJobDirs(runsDir).catch(() => [])) {
    const logs = runPaths(runsDir, jobId).logsDir;
    for (const name of await listFiles(logs, PID_SUFFIX).catch(() => [])) {
      const pid = await readPidFile(join(logs, name));
      if (pid) found.push({ file: join(logs, name), pid });
    }
  }
  const ended = await Promise.all(found.map(({ file, pid }) => reap(runsDir, file, pid, graceMs)));
  return ended.filter((pgid): pgid is number => pgid !== null);
}

async function reap(runsDir: string, file: string, pid: PidFile, graceMs: number): Promise<number | null> {
  const members = await groupMembers(pid.pgid);
  if (members === null) return null; // no /proc: cannot tell whose group it is
  if (members.length > 0) {
    if (!(await hasEnvironment(members, { JOB_ID: pid.job_id, STAGE: pid.stage }))) return null;
    const gone = await terminateGroup(pid.pgid, graceMs);
    // The stage's log is a projection of the store, which the reaper does not reach: its note goes to a
    // file of its own next to it. Never through a link a stage planted (O_NOFOLLOW); the note is lost then.
    await appendReaperNote(
      stagePaths(runsDir, pid.job_id, pid.stage).reaperNotes,
      `logs/${pid.stage}.reaper.log`,
      new Date(),
      `operator gone: ${gone ? 'ended' : 'could not end'} process group ${pid.pgid}`,
    ).catch(() => {});
    if (!gone) return null;
  }
  await rm(file, { force: true });
  return members.length > 0 ? pid.pgid : null;
}

async function readPidFile(path: string): Promise<PidFile | null> {
  try {
    const data = JSON.parse(await readPrivateFile(path)) as Partial<PidFile>;
    const { pgid, job_id, stage } = data;
    if (typeof pgid !== 'number' || !Number.isInteger(pgid) || pgid <= 1) return null;
    if (typeof job_id !== 'string' || typeof stage !== 'string') return null;
    return { pgid, job_id, stage };
  } catch {
    return null;
  }
}
