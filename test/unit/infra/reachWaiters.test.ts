import test from 'ava';
import { ReachWaiters } from '../../../src/infra/reachWaiters.ts';

test('a wait resolves true once settle finds its target reached, and not before', async (t) => {
  const waiters = new ReachWaiters<number>();
  let applied = 0;
  const three = waiters.wait(3, 5_000);
  const seven = waiters.wait(7, 5_000);
  let threeDone: boolean | undefined;
  void three.then((reached) => {
    threeDone = reached;
  });
  applied = 2;
  waiters.settle((target) => applied >= target);
  await Promise.resolve();
  t.is(threeDone, undefined, 'target 3 is not reached at 2');
  applied = 5;
  waiters.settle((target) => applied >= target);
  t.true(await three);
  t.is(waiters.size, 1, 'the settled wait is gone; the other still waits');
  applied = 7;
  waiters.settle((target) => applied >= target);
  t.true(await seven);
  t.is(waiters.size, 0);
});

test('a wait resolves false after its timeout, and cancelAll resolves every wait false', async (t) => {
  const waiters = new ReachWaiters<string>();
  t.false(await waiters.wait('a', 20));
  t.is(waiters.size, 0, 'a timed-out wait is removed');
  const pending = [waiters.wait('b', 5_000), waiters.wait('c', 5_000)];
  waiters.cancelAll();
  t.deepEqual(await Promise.all(pending), [false, false]);
  t.is(waiters.size, 0);
});
