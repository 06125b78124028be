import test from 'ava';
import { payloadOf } from '../../../src/domain/payloadOf.ts';

test('payloadOf types the catalogue fields and keeps the ones that fit', (t) => {
  const read = payloadOf(
    { payload: { gate: 'review', deadline: null, on_timeout: 'approve', timeout_ms: 5, extra: 1 } },
    'gate_pause',
  );
  t.deepEqual(read, { gate: 'review', deadline: null, on_timeout: 'approve', timeout_ms: 5 });
});

test('payloadOf drops only the fields a stored value does not fit, so folds stay total', (t) => {
  const read = payloadOf(
    { payload: { gate: 7, on_timeout: 'explode', deadline: '2026-12-01T00:00:00Z' } },
    'gate_pause',
  );
  t.deepEqual(read, { deadline: '2026-12-01T00:00:00Z' });
  t.deepEqual(payloadOf({ payload: {} }, 'stage_started'), {});
});
