import type { Logger } from 'pino';
import type { JobCommand, LaneUse } from '../domain/commands.ts';
import type { EventStore } from '../infra/eventstore/eventStore.ts';
import type { CommandResult } from '../infra/eventstore/jobCommandHandler.ts';
import { assertExpectedSeq } from '../infra/eventstore/jobCommandHandler.ts';
import type { JobBook } from './jobBook.ts';
import { QUEUE_FRONT_STREAM, queueFrontEvent } from './queueFront.ts';
import type { RunnerCommands } from './runnerCommands.ts';
import type { RunnerSteps } from './runnerSteps.ts';

/** A job's event reaches the runner a moment after `POST /jobs` answered: how often, how long to wait for it. */
const UNSEEN_JOB_TRIES = 40;
const UNSEEN_JOB_WAIT_MS = 25;

export interface StartRequestContext {
  store: EventStore;
  book: JobBook;
  commands: RunnerCommands;
  steps: RunnerSteps;
  lanes: number;
  logger: Logger;
}

/**
 * `POST /jobs/{id}/start` without `force`: a free lane starts the job now (one step of the runner, so it
 * never races the lane filling); otherwise the job goes to the front of the queue (recorded in the store)
 * and starts at the next free lane. `not_queued`: the job is unknown here or no longer queued (the caller
 * lets the decider say why). With the client's `If-Match` (`expectedSeq`), a job that has moved on is
 * neither started nor put first: the promise rejects with `stale_seq`, as every conditional command does.
 */
export function requestStart(
  o: StartRequestContext,
  jobId: string,
  by: string,
  expectedSeq?: number,
): Promise<CommandResult | 'queued' | 'not_queued'> {
  return new Promise((resolve, reject) => {
    let tries = 0;
    const step = async (): Promise<void> => {
      const state = o.book.get(jobId);
      if (!state && tries++ < UNSEEN_JOB_TRIES) {
        // Created a moment ago: its first event has not reached this runner yet.
        setTimeout(() => o.steps.push(step), UNSEEN_JOB_WAIT_MS).unref();
        return;
      }
      if (state?.status !== 'queued') return resolve('not_queued');
      if (expectedSeq !== undefined) {
        // Checked on the store's state: the book may not have seen the job's latest events yet.
        try {
          assertExpectedSeq(jobId, await o.commands.load(jobId), expectedSeq);
        } catch (error) {
          return reject(error);
        }
      }
      if (o.book.occupied() < o.lanes) {
        const start = { type: 'start_job', actor: by, ts: o.commands.now() } as const;
        const result = await o.commands.run(jobId, start, { expectedSeq });
        return resolve(typeof result === 'string' ? 'not_queued' : result);
      }
      try {
        const written = await o.store.append(QUEUE_FRONT_STREAM, [
          queueFrontEvent({ job_id: jobId, requested_by: by, ts: o.commands.now() }),
        ]);
        o.book.toFront(jobId, BigInt(written.position), by);
        resolve('queued');
      } catch (error) {
        o.logger.error({ err: error, job_id: jobId }, 'runner: cannot record a queue-front request');
        resolve('not_queued');
      }
    };
    o.steps.push(step);
  });
}

/**
 * `POST /jobs/{id}/resume` without `force`: a failed job resumes only into a free lane, and the check and
 * the command are one step of the runner, so two resumes at once (or a resume and the runner filling the
 * lane) never both take the last lane. The state is read from the store, not the book, which may not have
 * seen the failure yet. Anything but a failed job goes to the decider, which says why not (404, 409).
 */
export function requestResume(
  o: StartRequestContext,
  jobId: string,
  command: JobCommand,
  expectedSeq: number | undefined,
): Promise<CommandResult | { noFreeLane: LaneUse }> {
  return new Promise((resolve, reject) => {
    o.steps.push(async () => {
      try {
        const state = await o.commands.load(jobId);
        const occupied = o.book.occupied();
        if (state.status === 'failed' && occupied >= o.lanes)
          return resolve({ noFreeLane: { limit: o.lanes, occupied } });
        resolve(await o.commands.runFor(jobId, command, { expectedSeq }));
      } catch (error) {
        reject(error);
      }
    });
  });
}
