import test from 'ava';
import {
  evolve,
  initialState,
  isPausedAt,
  nextStage,
  pendingGateDeadline,
  resumeStage,
} from '../../../src/domain/jobDecider.ts';
import { at, ev, fold, history, pipelineWith, record, T0 } from '../../helpers/decider.ts';

test('the initial state is a job that does not exist yet', (t) => {
  t.deepEqual(initialState(), {
    job_id: null,
    status: 'none',
    pipeline: null,
    params: {},
    stages: [],
    gates: {},
    current_stage: null,
    paused_gate: null,
    seq: -1,
    event_count: 0,
    created_at: null,
    started_at: null,
    updated_at: null,
    finished_at: null,
    reason: null,
    failure_code: null,
  });
});

test('evolve records the seq, the count, the time and the status of each event', (t) => {
  const created = fold(history.created());
  const [started] = record([{ ...ev.jobStarted(), ts: at(5) }], 7);
  const state = evolve(created, started!);
  t.like(state, { seq: 7, event_count: 2, updated_at: at(5), status: 'running', started_at: at(5) });
});

test('evolve returns a new state and leaves the old one as it was', (t) => {
  const before = fold(history.scriptRunning());
  const copy = structuredClone(before);
  const [completed] = record([ev.stageCompleted('script')], before.seq + 1);
  const after = evolve(before, completed!);
  t.deepEqual(before, copy);
  t.not(after, before);
  t.not(after.stages, before.stages);
});

test('job_created starts a job from nothing, whatever state it is folded onto (an id used again after retention)', (t) => {
  const old = fold(history.scriptRunning());
  const [created] = record([ev.jobCreated()], old.seq + 5);
  const fresh = evolve(initialState(), created!);
  t.deepEqual(evolve(old, created!), fresh);
  t.like(fresh, { status: 'queued', event_count: 1, seq: old.seq + 5, started_at: null });
});

test('evolve ignores the stage or gate part of an event that names neither', (t) => {
  const before = fold(history.running());
  const after = fold([ev.stageStarted('mix'), ev.gatePaused('nope')], before);
  t.deepEqual(after.stages, before.stages);
  t.deepEqual(after.gates, before.gates);
  t.is(after.event_count, 4);
});

test('evolve keeps the state of an event type it does not know', (t) => {
  const before = fold(history.scriptRunning());
  const after = fold([{ ...ev.jobStarted(), type: 'job_archived' as 'job_started' }], before);
  t.deepEqual(after.stages, before.stages);
  t.like(after, { job_id: 'j1', event_count: 4, pipeline: before.pipeline });
});

test('a job with no past events folds to the initial state', (t) => {
  t.deepEqual(fold([]), initialState());
});

test('nextStage is the first stage that has not completed', (t) => {
  t.is(nextStage(fold(history.running()))?.name, 'script');
  t.is(nextStage(fold(history.scriptDone()))?.name, 'storyboard');
  t.is(nextStage(fold(history.renderRunning()))?.name, 'render');
  t.is(nextStage(fold(history.completed())), null);
});

test('isPausedAt holds only for the gate the job is paused at', (t) => {
  const paused = fold(history.pausedAtStoryboard());
  t.true(isPausedAt(paused, 'storyboard'));
  t.false(isPausedAt(paused, 'render'));
  t.false(isPausedAt(fold(history.storyboardApproved()), 'storyboard'));
});

test('pendingGateDeadline gives the timer the paused gate, its deadline and its policy', (t) => {
  t.deepEqual(pendingGateDeadline(fold(history.pausedAtStoryboard())), {
    gate: 'storyboard',
    deadline: at(600),
    on_timeout: 'approve',
  });
});

test('pendingGateDeadline is null when the job is not paused or the gate has no deadline', (t) => {
  t.is(pendingGateDeadline(fold(history.storyboardRunning())), null);
  t.is(pendingGateDeadline(fold(history.storyboardApproved())), null);
  const noTimeout = pipelineWith({ storyboard: { gate: { on_timeout: 'wait', on_reject: 'fail' } } });
  const pausedWithoutDeadline = fold([
    ...history.storyboardRunning(noTimeout),
    ev.stageCompleted('storyboard'),
    { ...ev.gatePaused('storyboard'), payload: { gate: 'storyboard', deadline: null, on_timeout: 'wait' } },
  ]);
  t.is(pendingGateDeadline(pausedWithoutDeadline), null);
});

test('resumeStage is the failed stage, else the stage of the gate that stopped the job', (t) => {
  t.is(resumeStage(fold(history.renderExhausted())), 'render');
  t.is(resumeStage(fold([...history.pausedAtStoryboard(), ev.jobFailed()])), 'storyboard');
  t.is(resumeStage(fold([...history.scriptDone(), ev.jobFailed()])), 'storyboard');
});

test('a stage keeps its attempts, times and last error', (t) => {
  const state = fold([
    ...history.renderRunning(),
    { ...ev.stageFailed('render', 1, true), ts: at(3), payload: { reason: 'oom', duration_ms: 3000 } },
    { ...ev.stageStarted('render', 2), ts: at(4) },
  ]);
  t.like(state.stages[2], {
    name: 'render',
    status: 'running',
    attempts: 2,
    started_at: at(4),
    finished_at: null,
    duration_ms: null,
    last_error: 'oom',
  });
});

test('job times are kept: created, started, updated and finished', (t) => {
  const state = fold([
    { ...ev.jobCreated(), ts: T0 },
    { ...ev.jobStarted(), ts: at(1) },
    { ...ev.jobCanceled(), ts: at(2) },
  ]);
  t.like(state, {
    created_at: T0,
    started_at: at(1),
    updated_at: at(2),
    finished_at: at(2),
    status: 'canceled',
  });
});
