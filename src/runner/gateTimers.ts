import type { GateState } from '../domain/jobState.ts';
import type { RunnerClock } from './runnerClock.ts';

export interface PendingGate {
  gate: string;
  deadline: string;
  on_timeout: GateState['on_timeout'];
}

interface ArmedTimer extends PendingGate {
  cancel: () => void;
  /** Fired: the decision is under way; the pause is not re-armed unless `clear` is called. */
  fired: boolean;
}

/**
 * One timer per job paused at a gate with a deadline and an `on_timeout` other than `wait`. The deadline is
 * in the `gate_pause` event, so the timers are re-armed from the log after a restart; one that passed while
 * the operator was down fires at once.
 */
export class GateTimers {
  readonly #armed = new Map<string, ArmedTimer>();

  constructor(
    private readonly clock: RunnerClock,
    private readonly onDeadline: (jobId: string, pending: PendingGate) => void,
  ) {}

  /** Arms, keeps or clears the job's timer so that it matches `pending` (the job's current pause, or null). */
  sync(jobId: string, pending: PendingGate | null): void {
    const current = this.#armed.get(jobId);
    const wanted = pending && pending.on_timeout !== 'wait' ? pending : null;
    if (current && wanted && current.gate === wanted.gate && current.deadline === wanted.deadline) return;
    this.clear(jobId);
    if (!wanted) return;
    const delay = Date.parse(wanted.deadline) - this.clock.now().getTime();
    const armed: ArmedTimer = { ...wanted, fired: false, cancel: () => {} };
    armed.cancel = this.clock.setTimer(Math.max(0, delay), () => {
      armed.fired = true;
      this.onDeadline(jobId, wanted);
    });
    this.#armed.set(jobId, armed);
  }

  /** Forgets the job's timer (fired or not), so that the next `sync` arms it again. */
  clear(jobId: string): void {
    this.#armed.get(jobId)?.cancel();
    this.#armed.delete(jobId);
  }

  clearAll(): void {
    for (const jobId of [...this.#armed.keys()]) this.clear(jobId);
  }
}
