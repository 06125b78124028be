/** setTimeout's largest delay (2^31 - 1 ms, about 24.8 days). Past it Node fires after 1 ms, with a warning. */
export const MAX_TIMER_MS = 2_147_483_647;

/** The timer primitives a long timeout is built on; tests pass a fake to run 25 days in no time. */
export interface TimerHost {
  set(fn: () => void, ms: number, unref: boolean): unknown;
  clear(timer: unknown): void;
}

const nodeTimers: TimerHost = {
  set(fn, ms, unref) {
    const timer = setTimeout(fn, ms);
    if (unref) timer.unref();
    return timer;
  },
  clear(timer) {
    clearTimeout(timer as NodeJS.Timeout);
  },
};

/**
 * Calls `fn` once after `ms`, however long: a delay past setTimeout's limit is waited in steps of at most
 * `MAX_TIMER_MS`. Every timer whose delay comes from configuration (a stage timeout, a kill grace, a
 * gate deadline) goes through here. Returns a function that cancels the call.
 *
 * `unref`: a pending call does not keep the process up.
 */
export function setLongTimeout(
  fn: () => void,
  ms: number,
  options: { unref?: boolean; timers?: TimerHost } = {},
): () => void {
  const timers = options.timers ?? nodeTimers;
  let left = Math.max(0, ms);
  let timer: unknown;
  const arm = () => {
    const step = Math.min(left, MAX_TIMER_MS);
    left -= step;
    timer = timers.set(() => (left > 0 ? arm() : fn()), step, options.unref ?? false);
  };
  arm();
  return () => timers.clear(timer);
}
