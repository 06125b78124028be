/** setTimeout's largest delay; longer waits are re-armed by their owner when the timer fires early. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * The runner's time: `now()` stamps its commands and `setTimer` waits for gate deadlines. Tests inject a
 * manual clock to run a ten-minute gate timeout in no time.
 */
export interface RunnerClock {
  now(): Date;
  /** Calls `fn` once, after `ms` of this clock's time; returns a function that cancels the call. */
  setTimer(ms: number, fn: () => void): () => void;
}

/** Wall-clock time (or the given `now`) with real, unref'd timers: a pending deadline never keeps the process up. */
export function systemClock(now: () => Date = () => new Date()): RunnerClock {
  return {
    now,
    setTimer(ms, fn) {
      const timer = setTimeout(fn, Math.min(Math.max(ms, 0), MAX_TIMER_MS));
      timer.unref();
      return () => clearTimeout(timer);
    },
  };
}
