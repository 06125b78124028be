import test from 'ava';
import {
  at,
  cmd,
  ev,
  fold,
  given,
  history,
  lastStageGatedPipeline,
  pipelineWith,
  rerunPipeline,
} from '../../helpers/decider.ts';

// ---- approve_gate and auto_approve_gate

test(
  'approve_gate while paused at that gate approves it and resumes the job',
  given(history.pausedAtStoryboard())
    .when(cmd.approveGate('storyboard', 'alice', 'looks good'))
    .then(
      [
        {
          type: 'gate_approved',
          stage: 'storyboard',
          status: 'paused',
          actor: 'alice',
          message: 'gate storyboard approved by alice: looks good',
          payload: { gate: 'storyboard', comment: 'looks good', by_timer: false },
        },
        {
          type: 'job_resumed',
          stage: 'storyboard',
          status: 'running',
          message: 'job resumed after gate storyboard',
          payload: { after_gate: 'storyboard' },
        },
      ],
      {
        status: 'running',
        paused_gate: null,
        gates: {
          storyboard: {
            status: 'approved',
            decided_by: 'alice',
            decided_at: at(1),
            comment: 'looks good',
            by_timer: false,
          },
        },
      },
    ),
);

test(
  'approve_gate without a comment says who approved',
  given(history.pausedAtStoryboard())
    .when(cmd.approveGate('storyboard', 'alice'))
    .then([
      { type: 'gate_approved', message: 'gate storyboard approved by alice', payload: { comment: null } },
      { type: 'job_resumed' },
    ]),
);

test(
  'auto_approve_gate by the timer approves the gate once its deadline passed',
  given(history.pausedAtStoryboard())
    .when(cmd.autoApproveGate('storyboard'))
    .then(
      [
        {
          type: 'gate_auto_approved',
          stage: 'storyboard',
          status: 'paused',
          actor: 'timer',
          message: `gate storyboard auto-approved by timer: deadline ${at(600)} passed`,
          payload: { gate: 'storyboard', by_timer: true },
        },
        { type: 'job_resumed', status: 'running', payload: { after_gate: 'storyboard' } },
      ],
      { gates: { storyboard: { status: 'auto_approved', decided_by: 'timer', by_timer: true } } },
    ),
);

test(
  'approving the gate of the last stage completes the job',
  given(history.renderRunning(lastStageGatedPipeline), ev.stageCompleted('render'), ev.gatePaused('render'))
    .when(cmd.approveGate('render'))
    .then(
      [{ type: 'gate_approved' }, { type: 'job_resumed' }, { type: 'job_completed', status: 'completed' }],
      {
        status: 'completed',
      },
    ),
);

// ---- a gate is decided only while the job is paused at that gate

const decisions = [
  cmd.approveGate('storyboard'),
  cmd.autoApproveGate('storyboard'),
  cmd.rejectGate('storyboard'),
] as const;

for (const decision of decisions) {
  test(
    `${decision.type} while the gated stage still runs is refused`,
    given(history.storyboardRunning()).when(decision).thenThrows('gate_not_paused', 'conflict'),
  );

  test(
    `${decision.type} on a queued job is refused`,
    given(history.created()).when(decision).thenThrows('gate_not_paused', 'conflict'),
  );

  test(
    `${decision.type} on a gate that was already decided is a conflict`,
    given(history.storyboardApproved()).when(decision).thenThrows('gate_already_decided', 'conflict'),
  );
}

test(
  'a gate decision while paused at another gate is refused',
  given(history.pausedAtStoryboard(lastStageGatedPipeline))
    .when(cmd.approveGate('render'))
    .thenThrows('gate_not_paused', 'conflict'),
);

test(
  'a decision on a gate the pipeline does not have is invalid',
  given(history.pausedAtStoryboard())
    .when(cmd.approveGate('script'))
    .thenThrows('unknown_gate', 'unprocessable'),
);

for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
  test(
    `a decision on a gate named like what every object inherits (${name}) is an unknown gate, not a conflict`,
    given(history.pausedAtStoryboard())
      .when(cmd.rejectGate(name, 'mallory'))
      .thenThrows('unknown_gate', 'unprocessable'),
  );
}

test('an event naming a gate like what every object inherits changes no gate (the fold stays total)', (t) => {
  const paused = fold(history.pausedAtStoryboard());
  for (const name of ['constructor', '__proto__', 'toString']) {
    const after = fold([ev.gateApproved(name, 'mallory', 'storyboard')], paused);
    t.deepEqual(Object.keys(after.gates), Object.keys(paused.gates), name);
    t.deepEqual(after.gates, paused.gates, name);
    t.is(after.seq, paused.seq + 1, 'the job-level fields still move');
  }
});

test(
  'a human approval after the timer auto-approved is a conflict',
  given(
    history.pausedAtStoryboard(),
    { ...ev.gateApproved('storyboard', 'timer'), type: 'gate_auto_approved' },
    ev.jobResumed({ after_gate: 'storyboard' }),
  )
    .when(cmd.approveGate('storyboard'))
    .thenThrows('gate_already_decided', 'conflict'),
);

test(
  'rejecting a gate that was approved is a conflict',
  given(history.renderRunning())
    .when(cmd.rejectGate('storyboard'))
    .thenThrows('gate_already_decided', 'conflict'),
);

// ---- reject_gate: on_reject 'fail' (default) or 'rerun'

test(
  'reject_gate fails the job, naming the gate, who rejected it and why',
  given(history.pausedAtStoryboard())
    .when(cmd.rejectGate('storyboard', 'bob', 'too dark', 'style guide'))
    .then(
      [
        {
          type: 'gate_rejected',
          stage: 'storyboard',
          status: 'paused',
          actor: 'bob',
          message: 'gate storyboard rejected by bob: too dark; style guide',
          payload: { gate: 'storyboard', comment: 'too dark', reason: 'style guide', by_timer: false },
        },
        {
          type: 'job_failed',
          stage: 'storyboard',
          status: 'failed',
          message: 'job failed: gate storyboard rejected by bob: too dark; style guide',
          payload: {
            reason: 'style guide',
            code: 'gate_rejected',
            gate: 'storyboard',
            by: 'bob',
            comment: 'too dark',
          },
        },
      ],
      {
        status: 'failed',
        failure_code: 'gate_rejected',
        gates: {
          storyboard: { status: 'rejected', decided_by: 'bob', comment: 'too dark', by_timer: false },
        },
      },
    ),
);

test(
  'a rejection by the timer is recorded as such',
  given(
    history.pausedAtStoryboard(
      pipelineWith({ storyboard: { gate: { timeout: 600_000, on_timeout: 'reject', on_reject: 'fail' } } }),
    ),
  )
    .when({ ...cmd.rejectGate('storyboard'), actor: 'timer', by_timer: true })
    .then(
      [
        { type: 'gate_rejected', actor: 'timer', payload: { by_timer: true } },
        { type: 'job_failed', payload: { reason: 'gate storyboard rejected' } },
      ],
      { gates: { storyboard: { by_timer: true, decided_by: 'timer' } } },
    ),
);

test(
  "by_timer comes from the timer's command, not from the actor's name",
  given(
    history.pausedAtStoryboard(
      pipelineWith({ storyboard: { gate: { timeout: 600_000, on_timeout: 'reject', on_reject: 'fail' } } }),
    ),
  )
    .when({ ...cmd.rejectGate('storyboard', 'timer', 'no'), payload: { by_timer: true } })
    .then(
      [
        { type: 'gate_rejected', actor: 'timer', payload: { by_timer: false, comment: 'no' } },
        { type: 'job_failed', payload: { by: 'timer' } },
      ],
      { gates: { storyboard: { by_timer: false, decided_by: 'timer' } } },
    ),
);

test(
  'reject_gate with on_reject rerun sends the gated stage back to run again',
  given(history.pausedAtStoryboard(rerunPipeline))
    .when(cmd.rejectGate('storyboard', 'bob', 'too dark'))
    .then(
      [
        { type: 'gate_rejected', payload: { gate: 'storyboard', comment: 'too dark', on_reject: 'rerun' } },
        {
          type: 'job_resumed',
          stage: 'storyboard',
          status: 'running',
          message: 'job resumed: stage storyboard will run again because gate storyboard was rejected',
          payload: { after_gate: 'storyboard', from_stage: 'storyboard' },
        },
      ],
      {
        status: 'running',
        paused_gate: null,
        stages: [{ status: 'completed' }, { name: 'storyboard', status: 'pending', attempts: 0 }],
        gates: { storyboard: { status: 'pending', paused_at: null, deadline: null, decided_by: null } },
      },
    ),
);

const afterRerun = () => [
  ...history.pausedAtStoryboard(rerunPipeline),
  ev.gateRejected('storyboard'),
  ev.jobResumed({ after_gate: 'storyboard', from_stage: 'storyboard' }, 'storyboard'),
];

test(
  'after a rerun the gated stage is the next stage again',
  given(afterRerun())
    .when(cmd.startStage('storyboard'))
    .then([{ type: 'stage_started', stage: 'storyboard', payload: { attempt: 1 } }]),
);

test(
  'after a rerun the gate cannot be decided before it pauses again',
  given(afterRerun()).when(cmd.approveGate('storyboard')).thenThrows('gate_not_paused', 'conflict'),
);

test(
  'after a rerun and a new pause the gate can be decided again',
  given(
    afterRerun(),
    ev.stageStarted('storyboard'),
    ev.stageCompleted('storyboard'),
    ev.gatePaused('storyboard'),
  )
    .when(cmd.approveGate('storyboard', 'alice', 'better'))
    .then([{ type: 'gate_approved', payload: { comment: 'better' } }, { type: 'job_resumed' }], {
      gates: { storyboard: { status: 'approved', decided_by: 'alice' } },
    }),
);
