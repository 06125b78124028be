import test from 'ava';
import type { TimerHost } from '../../../src/infra/longTimeout.ts';
import { MAX_TIMER_MS, setLongTimeout } from '../../../src/infra/longTimeout.ts';

/** A fake setTimeout: records every delay it is asked for; `fire` runs the pending timer. */
function fakeTimers() {
  const delays: number[] = [];
  let pending: (() => void) | null = null;
  const host: TimerHost = {
    set(fn, ms) {
      delays.push(ms);
      pending = fn;
      return delays.length;
    },
    clear() {
      pending = null;
    },
  };
  return {
    host,
    delays,
    fire() {
      const fn = pending;
      pending = null;
      fn?.();
    },
    get pending() {
      return pending !== null;
    },
  };
}

const DAY = 86_400_000;

test('a delay past the timer limit is waited in steps no longer than the limit, then fn runs once', (t) => {
  const timers = fakeTimers();
  let calls = 0;
  setLongTimeout(() => calls++, 60 * DAY, { timers: timers.host });
  while (timers.pending) {
    t.is(calls, 0, 'not before the whole delay');
    timers.fire();
  }
  t.is(calls, 1);
  t.true(timers.delays.every((ms) => ms <= MAX_TIMER_MS));
  t.is(
    timers.delays.reduce((a, b) => a + b, 0),
    60 * DAY,
  );
  t.deepEqual(timers.delays, [MAX_TIMER_MS, MAX_TIMER_MS, 60 * DAY - 2 * MAX_TIMER_MS]);
});

test('25 days: two steps; a delay within the limit is one plain timer', (t) => {
  const long = fakeTimers();
  setLongTimeout(() => {}, 25 * DAY, { timers: long.host });
  while (long.pending) long.fire();
  t.deepEqual(long.delays, [MAX_TIMER_MS, 25 * DAY - MAX_TIMER_MS]);
  const short = fakeTimers();
  setLongTimeout(() => {}, 1500, { timers: short.host });
  t.deepEqual(short.delays, [1500]);
});

test('cancel stops a long timeout between its steps', (t) => {
  const timers = fakeTimers();
  let calls = 0;
  const cancel = setLongTimeout(() => calls++, 30 * DAY, { timers: timers.host });
  timers.fire(); // the first step ends; the second is armed
  t.true(timers.pending);
  cancel();
  t.false(timers.pending);
  t.is(calls, 0);
});

test('with real timers: 2^31 ms does not fire within a few ms (setTimeout alone would, after 1 ms)', async (t) => {
  let fired = false;
  const cancel = setLongTimeout(() => {
    fired = true;
  }, 2 ** 31);
  await new Promise((resolve) => setTimeout(resolve, 50));
  cancel();
  t.false(fired);
  let shortFired = false;
  await new Promise<void>((resolve) =>
    setLongTimeout(() => {
      shortFired = true;
      resolve();
    }, 5),
  );
  t.true(shortFired);
});
