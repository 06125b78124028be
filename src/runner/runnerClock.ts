import { setLongTimeout } from '../infra/longTimeout.ts';

/**
 * The runner's time: `now()` stamps its commands and `setTimer` waits for gate deadlines. Tests inject a
 * manual clock to run a ten-minute gate timeout in no time.
 */
export interface RunnerClock {
  now(): Date;
  /** Calls `fn` once, after `ms` of this clock's time; returns a function that cancels the call. */
  setTimer(ms: number, fn: () => void): () => void;
}

/**
 * Wall-clock time (or the given `now`) with real, unref'd timers of any length: a pending deadline never
 * keeps the process up.
 */
export function systemClock(now: () => Date = () => new Date()): RunnerClock {
  return {
    now,
    setTimer: (ms, fn) => setLongTimeout(fn, ms, { unref: true }),
  };
}
