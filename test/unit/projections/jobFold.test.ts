import test from 'ava';
import type { JobEvent } from '../../../src/domain/events.ts';
import { runPaths } from '../../../src/infra/files/runsLayout.ts';
import { expectedJobFiles, foldJob } from '../../../src/projections/jobFold.ts';
import { type JobFiles, verifyStateFiles } from '../../../src/projections/maintenance/verifyJobFiles.ts';
import { history, JOB_ID, record } from '../../helpers/decider.ts';

let seq = -1;
function event(type: string, fields: Partial<JobEvent> = {}): JobEvent {
  seq++;
  return {
    id: `e${seq}`,
    job_id: 'j',
    seq,
    position: String(seq),
    ts: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
    type,
    stage: null,
    status: 'queued',
    message: null,
    payload: {},
    actor: 'a',
    ...fields,
  } as JobEvent;
}

const pipeline = {
  name: 'p',
  stages: [{ name: 'work', retries: 0, env: {}, gate: { on_timeout: 'wait', on_reject: 'rerun' } }],
};

test.beforeEach(() => {
  seq = -1;
});

test('a gate gets a write when it changes, with the seq of the event that changed it; a gate reset to the same value does not', (t) => {
  const created = event('job_created', { payload: { pipeline, params: {} } });
  // Sends the stage (and its pending gate) back to the start: the gate is a new object with the same JSON.
  const resumed = event('job_resumed', { status: 'running', payload: { from_stage: 'work' } });
  const before = foldJob([created, resumed]);
  t.is(before.gateWrites.size, 0);
  t.is(before.state.gates['work']?.status, 'pending');

  const started = event('stage_started', { stage: 'work', status: 'running' });
  const paused = event('gate_pause', { stage: 'work', status: 'paused', payload: { gate: 'work' } });
  const completed = event('stage_completed', { stage: 'work', status: 'paused' });
  const after = foldJob([created, resumed, started, paused, completed]);
  t.deepEqual([...after.gateWrites], [['work', paused.seq]]);
  t.is(after.state.gates['work']?.status, 'paused');
});

test('a rejected gate sent back to pending is a change (the files must show it pending again)', (t) => {
  const events = [
    event('job_created', { payload: { pipeline, params: {} } }),
    event('gate_pause', { stage: 'work', status: 'paused', payload: { gate: 'work' } }),
    event('gate_rejected', { stage: 'work', status: 'running', payload: { gate: 'work', comment: 'again' } }),
  ];
  const resumed = event('job_resumed', { status: 'running', payload: { from_stage: 'work' } });
  const { state, gateWrites } = foldJob([...events, resumed]);
  t.is(state.gates['work']?.status, 'pending');
  t.deepEqual([...gateWrites], [['work', resumed.seq]]);
});

test('verify: a planted gate file named like what every object inherits is an extra file, the real gate file is clean', (t) => {
  const events = record(history.pausedAtStoryboard());
  const expected = expectedJobFiles(JOB_ID, events);
  const files: JobFiles = {
    jobId: JOB_ID,
    paths: runPaths('/runs', JOB_ID),
    jsonl: null,
    state: expected.state,
    gates: new Map([...Object.entries(expected.gates), ['constructor', '{"seq":1}\n'], ['toString', '{}']]),

    refused: new Map(),
  };
  const diffs = verifyStateFiles(files, events, null);
  t.deepEqual(
    diffs.map((d) => [d.kind, d.file]),
    [
      ['extra', '/runs/j1/gates/constructor.json'],
      ['extra', '/runs/j1/gates/toString.json'],
    ],
  );
});
