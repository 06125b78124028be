import test from 'ava';
import { EVENT_TYPES } from '../../../src/domain/events.ts';
import {
  EVENT_VERSIONS,
  FIRST_EVENT_VERSION,
  storedVersion,
  UPCASTERS,
  type Upcaster,
  upcastPayload,
} from '../../../src/domain/eventVersions.ts';
import { toEventData, toJobEvent } from '../../../src/infra/eventstore/jobEvents.ts';

test('every type has a version, and an upcaster for each step from the first version to it', (t) => {
  t.deepEqual(Object.keys(EVENT_VERSIONS).sort(), [...EVENT_TYPES].sort());
  for (const type of EVENT_TYPES)
    for (let v = FIRST_EVENT_VERSION; v < EVENT_VERSIONS[type]; v++)
      t.is(typeof UPCASTERS[type]?.[v], 'function', `${type} ${v} -> ${v + 1}`);
});

test('a record without a version, or with a nonsense one, is the first version', (t) => {
  t.is(storedVersion({}), 1);
  t.is(storedVersion({ schema_version: 'two' }), 1);
  t.is(storedVersion({ schema_version: 0 }), 1);
  t.is(storedVersion({ schema_version: 3 }), 3);
});

test('upcasting runs one step per version, in order, and leaves current or newer payloads alone', (t) => {
  const steps: Record<number, Upcaster> = {
    1: ({ rerun, ...rest }) => ({ ...rest, rerun_stage: rerun }),
    2: (p) => ({ ...p, v3: true }),
  };
  const upcasters = { job_resumed: steps };
  const versions = { job_resumed: 3 };
  t.deepEqual(upcastPayload('job_resumed', 1, { rerun: 'a', x: 1 }, upcasters, versions), {
    x: 1,
    rerun_stage: 'a',
    v3: true,
  });
  t.deepEqual(upcastPayload('job_resumed', 2, { rerun_stage: 'a' }, upcasters, versions), {
    rerun_stage: 'a',
    v3: true,
  });
  t.deepEqual(upcastPayload('job_resumed', 3, { rerun_stage: 'a' }, upcasters, versions), {
    rerun_stage: 'a',
  });
  t.deepEqual(upcastPayload('job_resumed', 4, { later: 1 }, upcasters, versions), { later: 1 });
  t.deepEqual(upcastPayload('heartbeat', 1, { a: 1 }, upcasters, versions), { a: 1 });
  t.throws(() => upcastPayload('job_resumed', 1, {}, {}, versions), { message: /no upcaster/ });
});

test('a stored job event records its version in the metadata, never in the payload', (t) => {
  const data = toEventData(
    {
      type: 'gate_pause',
      ts: '2026-12-01T00:00:00.000Z',
      stage: 's',
      status: 'paused',
      message: '',
      payload: { gate: 'g', deadline: null, on_timeout: 'wait', timeout_ms: null, on_reject: 'fail' },
      actor: 'runner',
    },
    'e1',
  );
  t.deepEqual(data.metadata, { schema_version: EVENT_VERSIONS.gate_pause });
  const event = toJobEvent({
    streamId: 'job-j1',
    revision: 0,
    position: '1',
    id: 'e1',
    type: data.type,
    data: data.data,
    metadata: data.metadata ?? {},
    created: '2026-12-01T00:00:00.000Z',
  });
  t.false('schema_version' in event.payload);
  t.is(event.payload['gate'], 'g');
});
