import test from 'ava';
import { EVENT_TYPES } from '../../../src/domain/events.ts';
import {
  EVENT_VERSIONS,
  FIRST_EVENT_VERSION,
  rerunToFromStage,
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
    1: ({ gate, ...rest }) => ({ ...rest, gate_name: gate }),
    2: (p) => ({ ...p, v3: true }),
  };
  const upcasters = { gate_pause: steps };
  const versions = { gate_pause: 3 };
  t.deepEqual(upcastPayload('gate_pause', 1, { gate: 'a', x: 1 }, upcasters, versions), {
    x: 1,
    gate_name: 'a',
    v3: true,
  });
  t.deepEqual(upcastPayload('gate_pause', 2, { gate_name: 'a' }, upcasters, versions), {
    gate_name: 'a',
    v3: true,
  });
  t.deepEqual(upcastPayload('gate_pause', 3, { gate_name: 'a' }, upcasters, versions), {
    gate_name: 'a',
  });
  t.deepEqual(upcastPayload('gate_pause', 4, { later: 1 }, upcasters, versions), { later: 1 });
  t.deepEqual(upcastPayload('heartbeat', 1, { a: 1 }, upcasters, versions), { a: 1 });
  t.throws(() => upcastPayload('gate_pause', 1, {}, {}, versions), { message: /no upcaster/ });
});

test('job_resumed 1 -> 2: the stage a rerun sends back moves from `rerun` to `from_stage`, other keys kept', (t) => {
  t.is(EVENT_VERSIONS.job_resumed, 2);
  t.deepEqual(rerunToFromStage({ after_gate: 'review', rerun: 'review', ticket: 'DOC-7' }), {
    after_gate: 'review',
    ticket: 'DOC-7',
    from_stage: 'review',
  });
  t.deepEqual(upcastPayload('job_resumed', 1, { after_gate: 'review', rerun: 'draft' }), {
    after_gate: 'review',
    from_stage: 'draft',
  });
  // the other two kinds of resume had no `rerun`: their version 1 is their version 2
  const afterApproval = { after_gate: 'review' };
  const afterFailure = { reason: null, from_stage: 'publish', previous_reason: 'disk full', note: 1 };
  t.deepEqual(upcastPayload('job_resumed', 1, afterApproval), afterApproval);
  t.deepEqual(upcastPayload('job_resumed', 1, afterFailure), afterFailure);
  // a `rerun` that is not a stage name was never folded: it stays a client's key
  t.deepEqual(rerunToFromStage({ rerun: true }), { rerun: true });
  // a version 2 payload is not upcast again
  t.deepEqual(upcastPayload('job_resumed', 2, { from_stage: 'a', rerun: 'b' }), {
    from_stage: 'a',
    rerun: 'b',
  });
});

test('a stored version-1 job_resumed reads as version 2; one stored as version 2 reads as stored', (t) => {
  const stored = (payload: Record<string, unknown>, metadata: Record<string, unknown>) =>
    toJobEvent({
      streamId: 'job-j1',
      revision: 7,
      position: '40',
      id: 'e7',
      type: 'job_resumed',
      data: {
        ts: '2026-11-02T09:00:00.000Z',
        stage: 'review',
        status: 'running',
        message: '',
        payload,
        actor: 'bob',
      },
      metadata,
      created: '2026-11-02T09:00:00.000Z',
    }).payload;
  const v1 = { after_gate: 'review', rerun: 'review' };
  const v2 = { after_gate: 'review', from_stage: 'review' };
  t.deepEqual(stored(v1, { schema_version: 1 }), v2);
  t.deepEqual(stored(v1, {}), v2, 'written before versions were recorded');
  t.deepEqual(stored({ ...v2, rerun: 'kept' }, { schema_version: 2 }), { ...v2, rerun: 'kept' });
  const data = toEventData(
    {
      type: 'job_resumed',
      ts: '2026-11-02T09:00:00.000Z',
      stage: 'review',
      status: 'running',
      message: '',
      payload: v2,
      actor: 'bob',
    },
    'e8',
  );
  t.deepEqual(data.metadata, { schema_version: 2 });
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
