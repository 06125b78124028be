import { TIMER_ACTOR } from '../domain/actors.ts';
import type { JobCommand } from '../domain/commands.ts';
import { pendingGateDeadline } from '../domain/jobDecider.ts';
import type { PendingGate } from './gateTimers.ts';
import { GateTimers } from './gateTimers.ts';
import type { JobBook } from './jobBook.ts';
import type { RunnerClock } from './runnerClock.ts';
import type { RunnerCommands } from './runnerCommands.ts';
import { Superseded } from './runnerCommands.ts';
import type { RunnerSteps } from './runnerSteps.ts';

/**
 * The gate deadlines of the jobs paused at a gate: each timer, when it fires, becomes a step of the runner
 * that approves or rejects the gate (`on_timeout`) if the job still waits at that gate with that deadline.
 */
export function gateDeadlines(o: {
  book: JobBook;
  commands: RunnerCommands;
  steps: RunnerSteps;
  clock: RunnerClock;
}): GateTimers {
  const timers: GateTimers = new GateTimers(o.clock, (jobId, pending) =>
    o.steps.push(() => decideAtDeadline(jobId, pending)),
  );
  const decideAtDeadline = async (jobId: string, pending: PendingGate): Promise<void> => {
    const state = o.book.get(jobId);
    if (!state) return;
    if (o.clock.now().getTime() < Date.parse(pending.deadline)) {
      // Woke before the deadline by the wall clock (the clock was set back meanwhile): wait on.
      timers.clear(jobId);
      timers.sync(jobId, pendingGateDeadline(state));
      return;
    }
    const { gate } = pending;
    const ts = o.commands.now();
    const command: JobCommand =
      pending.on_timeout === 'approve'
        ? { type: 'auto_approve_gate', gate, actor: TIMER_ACTOR, ts }
        : { type: 'reject_gate', gate, reason: 'timeout', by_timer: true, actor: TIMER_ACTOR, ts };
    const result = await o.commands.run(jobId, (fresh) => {
      const now = pendingGateDeadline(fresh);
      if (now?.gate !== gate || now.deadline !== pending.deadline) throw new Superseded();
      return command;
    });
    if (result === 'failed')
      o.commands.later(() => {
        timers.clear(jobId); // re-armed (already due) by the reconciliation
        o.steps.touch(jobId);
      });
  };
  return timers;
}
