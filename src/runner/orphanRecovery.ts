import type { Logger } from 'pino';
import { runningStage, stageDefinition } from '../domain/jobDecider.ts';
import type { JobState } from '../domain/jobState.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import { stagePaths } from '../infra/files/runsLayout.ts';
import type { JobBook } from './jobBook.ts';
import { endOrphanStage } from './orphanStage.ts';
import type { RunnerClock } from './runnerClock.ts';
import type { RunnerCommands } from './runnerCommands.ts';
import { RUNNER } from './runnerCommands.ts';
import { appendLogNote } from './stageLog.ts';

export interface OrphanRecoveryOptions {
  store: EventStore;
  book: JobBook;
  commands: RunnerCommands;
  clock: RunnerClock;
  logger: Logger;
  runsDir: string;
  killGraceMs: number;
  /** True when this runner runs a process for the job. */
  runsHere: (jobId: string) => boolean;
}

/**
 * After a crash or a stop: the stages the log says are running that no process of this runner runs. A
 * process left over from the previous run is ended, a note goes into the attempt's log, and the attempt is
 * failed (`operator restarted`), to be retried per its policy.
 */
export async function recoverOrphans(o: OrphanRecoveryOptions): Promise<void> {
  const orphans: { jobId: string; stage: string; attempt: number }[] = [];
  for (const jobId of o.book.jobIds()) {
    const state = o.book.get(jobId) as JobState;
    const running = runningStage(state);
    if (running && stageDefinition(state, running.name)?.run && !o.runsHere(jobId))
      orphans.push({ jobId, stage: running.name, attempt: running.attempts });
  }
  const reports = await Promise.all(
    orphans.map((orphan) =>
      endOrphanStage(stagePaths(o.runsDir, orphan.jobId, orphan.stage), orphan.jobId, orphan.stage, {
        graceMs: o.killGraceMs,
        logger: o.logger,
      }),
    ),
  );
  for (const [i, orphan] of orphans.entries()) {
    const report = reports[i];
    // In the interrupted attempt's log, before the attempt is failed: a follower sees its last lines,
    // this note, then the retry's lines (the old runner, if it still writes, is refused from now on).
    await appendLogNote(
      o.store,
      orphan.jobId,
      orphan.stage,
      o.clock.now(),
      report?.note ?? `operator restarted: attempt ${orphan.attempt} interrupted`,
    ).catch((error) =>
      o.logger.warn(
        { err: error, job_id: orphan.jobId, stage: orphan.stage },
        'runner: cannot note the orphan in the stage log',
      ),
    );
    await o.commands.run(
      orphan.jobId,
      o.commands.forAttempt(orphan.stage, orphan.attempt, {
        type: 'fail_stage',
        stage: orphan.stage,
        reason: 'operator restarted',
        payload: {
          orphan_pgid: report?.pgid ?? null,
          orphan: report?.outcome ?? null,
          log: `logs/${orphan.stage}.log`,
        },
        actor: RUNNER,
        ts: o.commands.now(),
      }),
    );
  }
  if (orphans.length > 0) o.logger.warn({ orphans: orphans.length }, 'runner: orphaned stages failed');
}
