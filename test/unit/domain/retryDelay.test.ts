import test from 'ava';
import type { JobCommand } from '../../../src/domain/commands.ts';
import { decide, retryDueAt } from '../../../src/domain/jobDecider.ts';
import type { JobState } from '../../../src/domain/jobState.ts';
import { MAX_RETRY_DELAY_MS } from '../../../src/domain/pipeline.ts';
import { at, cmd, DEFAULT_OPTIONS, ev, fold, history, pipelineWith } from '../../helpers/decider.ts';

const FAILED_AT = '2026-12-02T10:00:00.000Z';

function failed(attempts: number, retryDelay: number | undefined, status = 'failed'): JobState {
  return {
    pipeline: { name: 'p', stages: [{ name: 's', retries: 20, env: {}, retry_delay: retryDelay }] },
    stages: [
      {
        name: 's',
        status,
        attempts,
        started_at: null,
        finished_at: FAILED_AT,
        duration_ms: null,
        last_error: null,
      },
    ],
  } as unknown as JobState;
}

test('retryDueAt: the delay after the first failure, doubled for each next one, at most an hour', (t) => {
  const at = Date.parse(FAILED_AT);
  t.is(retryDueAt(failed(1, 1000), 's'), at + 1000);
  t.is(retryDueAt(failed(2, 1000), 's'), at + 2000);
  t.is(retryDueAt(failed(5, 1000), 's'), at + 16_000);
  t.is(retryDueAt(failed(20, 1000), 's'), at + MAX_RETRY_DELAY_MS);
});

test('retryDueAt: null (start at once) without a delay, for a stage not failed, or for an unknown stage', (t) => {
  t.is(retryDueAt(failed(1, undefined), 's'), null);
  t.is(retryDueAt(failed(1, 0), 's'), null);
  t.is(retryDueAt(failed(1, 1000, 'pending'), 's'), null);
  t.is(retryDueAt(failed(1, 1000), 'other'), null);
});

// ---- the wait in the job's state: `retry_at` on the failed stage while its next attempt waits

const delayed = pipelineWith({ render: { retry_delay: 400 } });

/** The render stage of `state`. */
const render = (state: JobState) => state.stages.find((s) => s.name === 'render');

/** The events the decider records for `command` on `state`, folded onto it. */
function decideAndFold(state: JobState, command: JobCommand): JobState {
  return fold(decide(command, state, DEFAULT_OPTIONS), state);
}

test('a failure that waits for its retry_delay shows when the next attempt may start, as retryDueAt has it', (t) => {
  let state = fold(history.renderRunning(delayed));
  state = decideAndFold(state, { ...cmd.failStage('render'), ts: at(60) });
  t.is(render(state)?.status, 'failed');
  t.is(render(state)?.retry_at, '2026-11-24T10:01:00.400Z');
  t.is<number | null, number | null>(
    Date.parse(render(state)?.retry_at as string),
    retryDueAt(state, 'render'),
  );
  // The second failure waits twice as long.
  state = decideAndFold(state, { ...cmd.startStage('render'), ts: at(61) });
  t.false(Object.hasOwn(render(state) as object, 'retry_at'), 'a stage that starts again waits for nothing');
  state = decideAndFold(state, { ...cmd.failStage('render'), ts: at(70) });
  t.is(render(state)?.retry_at, '2026-11-24T10:01:10.800Z');
  t.is<number | null, number | null>(
    Date.parse(render(state)?.retry_at as string),
    retryDueAt(state, 'render'),
  );
  // The last attempt's failure ends the job: nothing to wait for.
  state = decideAndFold(state, { ...cmd.startStage('render'), ts: at(71) });
  state = decideAndFold(state, { ...cmd.failStage('render'), ts: at(80) });
  t.is(state.status, 'failed');
  t.false(Object.hasOwn(render(state) as object, 'retry_at'));
});

test('a job that ends while a stage waits for its retry leaves no retry time behind', (t) => {
  const waiting = fold([
    ...history.renderRunning(delayed),
    withDelay(ev.stageFailed('render', 1, true), 400),
  ]);
  t.is(render(waiting)?.retry_at, at(0.4));
  for (const end of [ev.jobCanceled(), ev.jobFailed(), ev.jobCompleted()]) {
    const ended = fold([end], waiting);
    t.is(render(ended)?.status, 'failed', end.type);
    t.false(Object.hasOwn(render(ended) as object, 'retry_at'), end.type);
  }
});

test('no retry time without a delay, without a retry, or with a time the fold cannot read', (t) => {
  const running = history.renderRunning(delayed);
  const noDelay = fold([...running, ev.stageFailed('render', 1, true)]);
  const noRetry = fold([...running, withDelay(ev.stageFailed('render', 1, false), 400)]);
  const zero = fold([...running, withDelay(ev.stageFailed('render', 1, true), 0)]);
  const badTs = fold([...running, { ...withDelay(ev.stageFailed('render', 1, true), 400), ts: 'yesterday' }]);
  const huge = fold([...running, withDelay(ev.stageFailed('render', 1, true), 8.64e15)]);
  for (const [name, state] of Object.entries({ noDelay, noRetry, zero, badTs, huge })) {
    t.is(render(state)?.status, 'failed', name);
    t.false(Object.hasOwn(render(state) as object, 'retry_at'), name);
  }
  // A job without retry_delay folds to the bytes it always had.
  t.false(JSON.stringify(fold(history.renderExhausted())).includes('retry_at'));
});

function withDelay<E extends { payload: Record<string, unknown> }>(event: E, ms: number): E {
  return { ...event, payload: { ...event.payload, retry_delay_ms: ms } };
}
