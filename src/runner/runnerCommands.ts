import type { Logger } from 'pino';
import { RUNNER_ACTOR } from '../domain/actors.ts';
import type { JobCommand } from '../domain/commands.ts';
import { isOperatorError } from '../domain/errors.ts';
import { runningStage } from '../domain/jobDecider.ts';
import type { JobState } from '../domain/jobState.ts';
import { isWrongExpectedRevisionError } from '../infra/eventstore/eventStore.ts';
import type {
  CommandResult,
  HandleOptions,
  JobCommandHandler,
} from '../infra/eventstore/jobCommandHandler.ts';
import { isStorageFullError } from '../infra/files/storageFull.ts';
import type { JobBook } from './jobBook.ts';
import type { RunnerClock } from './runnerClock.ts';
import type { StorageBackoff } from './storageBackoff.ts';

/** A decision that no longer applies when it is made on fresh state (the gate moved on, the attempt is over). */
export class Superseded extends Error {}

export type CommandInput = JobCommand | ((state: JobState) => JobCommand);

/** `refused`: the decider said no (or the decision no longer applies); `failed`: try again later. */
export type CommandOutcome = CommandResult | 'refused' | 'failed';

export interface RunnerCommandsOptions {
  commands: JobCommandHandler;
  book: JobBook;
  backoff: StorageBackoff;
  clock: RunnerClock;
  logger: Logger;
  signal: AbortSignal;
  /** The job's state changed (the runner reconciles it). */
  changed: (jobId: string) => void;
}

const RETRY_LATER_MS = 1000;
export const RUNNER = RUNNER_ACTOR;

/**
 * The runner's commands: each is decided on fresh state with the expected revision, and its result goes
 * into the book. A command the store could not take is tried again later, after a second or once the
 * storage backoff's wait is over.
 */
export class RunnerCommands {
  readonly #o: RunnerCommandsOptions;

  constructor(options: RunnerCommandsOptions) {
    this.#o = options;
  }

  /**
   * Runs a command and takes the state it returns. `refused`: the decider said no (the view was stale, or the
   * decision no longer applies); `failed`: the store did not answer, try again later.
   */
  async run(jobId: string, command: CommandInput, options?: HandleOptions): Promise<CommandOutcome> {
    const { commands, book, backoff, clock, logger } = this.#o;
    try {
      const result = await commands.handle(jobId, command, options);
      if (result.events.length > 0) backoff.succeeded();
      book.put(jobId, result.state, 0n);
      if (result.events.length > 0) this.#o.changed(jobId);
      return result;
    } catch (error) {
      if (error instanceof Superseded) return 'refused';
      if (isStorageFullError(error)) {
        backoff.refused(clock.now().getTime(), error); // logs once per step, not per retry
        return 'failed';
      }
      // Not a refusal: the store lost a race past the handler's retries, is closed or cannot be reached.
      if (!isOperatorError(error) || isWrongExpectedRevisionError(error) || error.kind === 'unavailable') {
        logger.error({ err: error, job_id: jobId }, 'runner: command failed; will try again');
        return 'failed';
      }
      const type = typeof command === 'function' ? 'command' : command.type;
      logger.debug({ job_id: jobId, command: type, code: error.code }, `runner: ${error.message}`);
      try {
        book.put(jobId, await commands.load(jobId), 0n);
      } catch {
        // the next event reconciles it
      }
      return 'refused';
    }
  }

  /**
   * A caller's command (the API's, in a step of the runner): its result goes into the book as the runner's
   * own do, so the next step counts the lane it took; its error is the caller's to answer.
   */
  async runFor(jobId: string, command: JobCommand, options?: HandleOptions): Promise<CommandResult> {
    const result = await this.#o.commands.handle(jobId, command, options);
    this.#o.book.put(jobId, result.state, 0n);
    if (result.events.length > 0) this.#o.changed(jobId);
    return result;
  }

  /** The job's state as the store has it (the book may not have seen its latest events yet). */
  load(jobId: string): Promise<JobState> {
    return this.#o.commands.load(jobId);
  }

  /** The command applies only while `stage` is still running the same attempt. */
  forAttempt(stage: string, attempt: number, command: JobCommand): (state: JobState) => JobCommand {
    return (state) => {
      const running = runningStage(state);
      if (running?.name !== stage || running.attempts !== attempt) throw new Superseded();
      return command;
    };
  }

  /** Runs `action` again later: after a second, or once the storage backoff's wait is over. */
  later(action: () => void): void {
    const { backoff, clock, signal } = this.#o;
    const run = () => {
      if (!signal.aborted) action();
    };
    const backoffMs = backoff.waitMs(clock.now().getTime());
    if (backoffMs > 0) {
      clock.setTimer(backoffMs, run);
      return;
    }
    const timer = setTimeout(run, RETRY_LATER_MS);
    timer.unref();
  }

  now(): string {
    return this.#o.clock.now().toISOString();
  }
}
