import test from 'ava';
import { retryDueAt } from '../../../src/domain/jobDecider.ts';
import type { JobState } from '../../../src/domain/jobState.ts';
import { MAX_RETRY_DELAY_MS } from '../../../src/domain/pipeline.ts';

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
