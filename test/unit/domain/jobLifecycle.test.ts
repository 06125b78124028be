import test from 'ava';
import type { JobCommand } from '../../../src/domain/commands.ts';
import { decide, initialState } from '../../../src/domain/jobDecider.ts';
import {
  cmd,
  DEFAULT_OPTIONS,
  ev,
  everyCommand,
  given,
  history,
  pipelineWith,
  samplePipeline,
} from '../../helpers/decider.ts';

// ---- create_job

test(
  'create_job on a new stream creates a queued job with a snapshot of its pipeline and its params',
  given()
    .when(cmd.createJob())
    .then(
      [
        {
          type: 'job_created',
          stage: null,
          status: 'queued',
          message: 'job j1 created by alice: pipeline video (3 stages: script, storyboard, render)',
          payload: { pipeline: samplePipeline, params: { topic: 'cats' } },
        },
      ],
      {
        job_id: 'j1',
        status: 'queued',
        pipeline: samplePipeline,
        params: { topic: 'cats' },
        stages: [
          { name: 'script', status: 'pending', attempts: 0 },
          { name: 'storyboard', status: 'pending', attempts: 0 },
          { name: 'render', status: 'pending', attempts: 0 },
        ],
        gates: {
          storyboard: { name: 'storyboard', stage: 'storyboard', status: 'pending', on_timeout: 'approve' },
        },
        created_at: cmd.createJob().ts,
      },
    ),
);

test('the pipeline snapshot does not change when the configuration object changes later', (t) => {
  const pipeline = structuredClone(samplePipeline);
  const [created] = decide(cmd.createJob(pipeline), initialState(), DEFAULT_OPTIONS);
  pipeline.stages[0]!.name = 'renamed';
  t.deepEqual(created?.payload['pipeline'], samplePipeline);
});

test(
  'create_job on a job that exists is refused',
  given(history.running()).when(cmd.createJob()).thenThrows('job_exists', 'conflict'),
);

test(
  'create_job with an id that cannot be a file name is invalid',
  given()
    .when({ ...cmd.createJob(), job_id: '../etc' })
    .thenThrows('invalid_job_id', 'unprocessable'),
);

test(
  'create_job with two stages of the same name is invalid',
  given()
    .when(cmd.createJob(pipelineWith({ render: { name: 'script' } })))
    .thenThrows('invalid_pipeline', 'unprocessable'),
);

for (const command of everyCommand.filter((c) => c.type !== 'create_job'))
  test(
    `${command.type} on a job that does not exist is not found`,
    given().when(command).thenThrows('job_not_found', 'not_found'),
  );

// ---- start_job

test(
  'start_job starts a queued job',
  given(history.created())
    .when(cmd.startJob())
    .then([{ type: 'job_started', status: 'running', message: 'job started by runner' }], {
      status: 'running',
      started_at: cmd.startJob().ts,
    }),
);

test(
  'start_job on a job already running is refused',
  given(history.running()).when(cmd.startJob()).thenThrows('job_already_started', 'conflict'),
);

// ---- fail_job and cancel_job: any state that is not terminal

const nonTerminal = {
  queued: history.created(),
  running: history.scriptRunning(),
  paused: history.pausedAtStoryboard(),
} as const;

for (const [status, past] of Object.entries(nonTerminal)) {
  test(
    `fail_job fails a ${status} job with the reason`,
    given(past)
      .when(cmd.failJob('disk full'))
      .then(
        [
          {
            type: 'job_failed',
            status: 'failed',
            message: 'job failed by alice: disk full',
            payload: { reason: 'disk full', code: 'job_failed' },
          },
        ],
        { status: 'failed', reason: 'disk full', failure_code: 'job_failed', finished_at: cmd.failJob().ts },
      ),
  );

  test(
    `cancel_job cancels a ${status} job`,
    given(past)
      .when(cmd.cancelJob('wrong topic', 'carol'))
      .then(
        [
          {
            type: 'job_canceled',
            status: 'canceled',
            actor: 'carol',
            message: 'job canceled by carol: wrong topic',
            payload: { reason: 'wrong topic', previous_status: status },
          },
        ],
        { status: 'canceled', reason: 'wrong topic', paused_gate: null, current_stage: null },
      ),
  );
}

test(
  'failing a job while a stage runs marks that stage failed',
  given(history.scriptRunning())
    .when(cmd.failJob('disk full'))
    .then([{ type: 'job_failed', stage: 'script', payload: { stage: 'script' } }], {
      stages: [{ name: 'script', status: 'failed', last_error: 'disk full' }],
    }),
);

test(
  'canceling a job while a stage runs stops that stage',
  given(history.scriptRunning())
    .when(cmd.cancelJob())
    .then(
      [
        {
          type: 'job_canceled',
          stage: 'script',
          message: 'job canceled by alice',
          payload: { reason: null },
        },
      ],
      {
        stages: [{ name: 'script', status: 'failed', last_error: 'job canceled' }],
      },
    ),
);

// ---- terminal jobs refuse every command (resume_job on a failed job aside)

const terminal = {
  completed: history.completed(),
  failed: history.failed(),
  canceled: history.canceled(),
} as const;

for (const [status, past] of Object.entries(terminal))
  for (const command of everyCommand) {
    if (status === 'failed' && command.type === 'resume_job') continue;
    // Creating an existing job is `job_exists` whatever its state, so an idempotent create can recognise it.
    const code = command.type === 'create_job' ? 'job_exists' : 'job_terminal';
    test(
      `a ${status} job refuses ${command.type} (${code})`,
      given(past).when(command).thenThrows(code, 'conflict'),
    );
  }

// ---- resume_job

test(
  'resume_job restarts a failed job from its failed stage',
  given(history.renderExhausted())
    .when(cmd.resumeJob('GPU driver fixed'))
    .then(
      [
        {
          type: 'job_resumed',
          stage: 'render',
          status: 'running',
          message: 'job resumed by alice from stage render: GPU driver fixed',
          payload: { reason: 'GPU driver fixed', from_stage: 'render', previous_reason: 'exit code 1' },
        },
      ],
      {
        status: 'running',
        reason: null,
        failure_code: null,
        finished_at: null,
        stages: [
          { status: 'completed' },
          { status: 'completed' },
          { name: 'render', status: 'pending', attempts: 0 },
        ],
      },
    ),
);

test(
  'after resume_job the failed stage runs again from its first attempt',
  given(history.renderExhausted(), ev.jobResumed({ from_stage: 'render' }, 'render'))
    .when(cmd.startStage('render'))
    .then([{ type: 'stage_started', stage: 'render', payload: { attempt: 1 } }]),
);

test(
  'resume_job after a rejected gate runs the gated stage again',
  given(
    history.pausedAtStoryboard(),
    ev.gateRejected('storyboard'),
    ev.jobFailed('too dark', 'gate_rejected'),
  )
    .when(cmd.resumeJob())
    .then([{ type: 'job_resumed', payload: { from_stage: 'storyboard', reason: null } }], {
      stages: [
        { status: 'completed' },
        { name: 'storyboard', status: 'pending', attempts: 0 },
        { status: 'pending' },
      ],
      gates: { storyboard: { status: 'pending', decided_by: null } },
    }),
);

test(
  'resume_job after a job failed while queued starts from the first stage',
  given(history.created(), ev.jobFailed())
    .when(cmd.resumeJob())
    .then([{ type: 'job_resumed', payload: { from_stage: 'script' } }], { status: 'running' }),
);

for (const [status, past] of Object.entries(nonTerminal))
  test(
    `resume_job on a ${status} job is refused`,
    given(past).when(cmd.resumeJob()).thenThrows('not_failed', 'conflict'),
  );

test(
  'a command of an unknown type is invalid',
  given(history.running())
    .when({ type: 'explode', actor: 'alice', ts: '2026-11-24T10:00:01.000Z' } as unknown as JobCommand)
    .thenThrows('unknown_command', 'unprocessable'),
);

test(
  'a command whose time is not a date is invalid',
  given(history.running())
    .when({ ...cmd.startStage('script'), ts: 'yesterday' })
    .thenThrows('invalid_ts', 'unprocessable'),
);
