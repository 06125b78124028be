import type { DecideOptions, JobCommand } from './commands.ts';
import { decideApproveGate, decideAutoApproveGate, decideRejectGate } from './decideGate.ts';
import {
  decideCancelJob,
  decideCreateJob,
  decideFailJob,
  decideResumeJob,
  decideStartJob,
} from './decideJob.ts';
import { decideCompleteStage, decideFailStage, decideStartStage } from './decideStage.ts';
import { InvalidCommandError } from './errors.ts';
import { applyEventCap } from './eventCap.ts';
import type { NewJobEvent } from './events.ts';
import { assertJobExists, assertNotTerminal, assertValidTime } from './jobGuards.ts';
import type { JobState } from './jobState.ts';

export { fitsEventCap, isTerminalEvent } from './eventCap.ts';
export { initialState } from './initialState.ts';
export { evolve } from './jobEvolve.ts';
export { formatDuration } from './jobMessages.ts';
export {
  gateDefinition,
  gateOfStage,
  hasRetriesLeft,
  isGateDecided,
  isJobTerminal,
  isLastStage,
  isPausedAt,
  jobExists,
  maxAttempts,
  nextStage,
  pendingGateDeadline,
  resumeStage,
  retryDueAt,
  runningStage,
  stageDefinition,
  stageState,
} from './jobPredicates.ts';

/** The events a command produces on a job's state; throws an `OperatorError` when the command is refused. */
export function decide(command: JobCommand, state: JobState, options: DecideOptions): NewJobEvent[] {
  assertValidTime(command.ts);
  return applyEventCap(decideCommand(command, state), command, state, options);
}

function decideCommand(command: JobCommand, state: JobState): NewJobEvent[] {
  if (command.type === 'create_job') return decideCreateJob(command, state);
  if (command.type === 'resume_job') return decideResumeJob(command, state);
  assertJobExists(state);
  assertNotTerminal(state);
  switch (command.type) {
    case 'start_job':
      return decideStartJob(command, state);
    case 'start_stage':
      return decideStartStage(command, state);
    case 'complete_stage':
      return decideCompleteStage(command, state);
    case 'fail_stage':
      return decideFailStage(command, state);
    case 'approve_gate':
      return decideApproveGate(command, state);
    case 'auto_approve_gate':
      return decideAutoApproveGate(command, state);
    case 'reject_gate':
      return decideRejectGate(command, state);
    case 'fail_job':
      return decideFailJob(command, state);
    case 'cancel_job':
      return decideCancelJob(command, state);
    default:
      throw new InvalidCommandError(
        'unknown_command',
        `unknown command ${(command as { type: unknown }).type}`,
      );
  }
}
