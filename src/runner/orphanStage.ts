import { rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import { readPrivateFile } from '../infra/files/privateFile.ts';
import type { StagePaths } from '../infra/files/runsLayout.ts';
import { groupMembers, hasEnvironment, terminateGroup } from './processGroup.ts';

export interface OrphanReport {
  /** The process group the pid file named, or null when there was none. */
  pgid: number | null;
  /** What became of it. */
  outcome: 'no_pid_file' | 'already_gone' | 'ended' | 'still_alive' | 'not_verified';
  /** The `runner` line for the attempt's log. */
  note: string;
}

/**
 * A stage the log says is running, left by an operator that is gone (crash, `kill -9`, or a stop): its pid
 * file names the process group it ran as. The group is ended only once `/proc` shows it still runs this job's
 * stage (its environment holds `JOB_ID` and `STAGE`): after a reboot the number may belong to anything.
 */
export async function endOrphanStage(
  paths: StagePaths,
  jobId: string,
  stage: string,
  options: { graceMs: number; logger: Logger },
): Promise<OrphanReport> {
  const pgid = await readPgid(paths.pidFile);
  if (pgid === null)
    return {
      pgid,
      outcome: 'no_pid_file',
      // Another machine's runner ran it (EventStoreDB): that operator's reaper ends its process group.
      note: 'operator restarted: the interrupted attempt left no process group on this machine',
    };
  const report = await endGroup(pgid, jobId, stage, options.graceMs);
  if (report.outcome === 'not_verified' || report.outcome === 'still_alive')
    options.logger.warn(
      { job_id: jobId, stage, pgid, outcome: report.outcome },
      'runner: orphaned stage process',
    );
  else
    options.logger.info(
      { job_id: jobId, stage, pgid, outcome: report.outcome },
      'runner: orphaned stage process',
    );
  if (report.outcome !== 'still_alive') await rm(paths.pidFile, { force: true }).catch(() => {});
  return report;
}

type GroupOutcome = Omit<OrphanReport, 'note'> & { outcome: Exclude<OrphanReport['outcome'], 'no_pid_file'> };

const NOTES: Record<GroupOutcome['outcome'], (pgid: number) => string> = {
  already_gone: (pgid) => `operator restarted: process group ${pgid} of the last attempt is gone`,
  ended: (pgid) => `operator restarted: ended the orphaned process group ${pgid}`,
  still_alive: (pgid) => `operator restarted: process group ${pgid} survived SIGKILL`,
  not_verified: (pgid) => `operator restarted: process group ${pgid} no longer runs this stage; left alone`,
};

async function endGroup(pgid: number, jobId: string, stage: string, graceMs: number): Promise<OrphanReport> {
  const outcome = await groupOutcome(pgid, jobId, stage, graceMs);
  return { ...outcome, note: NOTES[outcome.outcome](pgid) };
}

async function groupOutcome(
  pgid: number,
  jobId: string,
  stage: string,
  graceMs: number,
): Promise<GroupOutcome> {
  const members = await groupMembers(pgid);
  if (members === null) return { pgid, outcome: 'not_verified' };
  if (members.length === 0) return { pgid, outcome: 'already_gone' };
  if (!(await hasEnvironment(members, { JOB_ID: jobId, STAGE: stage })))
    return { pgid, outcome: 'not_verified' };
  return { pgid, outcome: (await terminateGroup(pgid, graceMs)) ? 'ended' : 'still_alive' };
}

async function readPgid(pidFile: string): Promise<number | null> {
  try {
    const pgid = (JSON.parse(await readPrivateFile(pidFile)) as { pgid?: unknown }).pgid;
    return typeof pgid === 'number' && Number.isInteger(pgid) && pgid > 1 ? pgid : null;
  } catch {
    return null;
  }
}
