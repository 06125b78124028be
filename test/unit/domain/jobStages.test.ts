import test from 'ava';
import { at, cmd, ev, given, history, pipelineWith } from '../../helpers/decider.ts';

// ---- start_stage: the job is running and the stage is the next one (or a configured retry)

test(
  'start_stage starts the first stage of a running job',
  given(history.running())
    .when(cmd.startStage('script'))
    .then(
      [
        {
          type: 'stage_started',
          stage: 'script',
          status: 'running',
          message: 'stage script started',
          payload: { attempt: 1, max_attempts: 1, retry: false },
        },
      ],
      {
        current_stage: 'script',
        stages: [{ name: 'script', status: 'running', attempts: 1, started_at: at(1) }],
      },
    ),
);

test(
  'start_stage starts the stage after the last completed one',
  given(history.scriptDone())
    .when(cmd.startStage('storyboard'))
    .then([{ type: 'stage_started', stage: 'storyboard' }]),
);

test(
  'start_stage on a queued job is refused',
  given(history.created()).when(cmd.startStage('script')).thenThrows('not_running', 'conflict'),
);

test(
  'start_stage on a job paused at a gate is refused',
  given(history.pausedAtStoryboard()).when(cmd.startStage('render')).thenThrows('not_running', 'conflict'),
);

test(
  'start_stage while a stage is running is refused',
  given(history.scriptRunning())
    .when(cmd.startStage('script'))
    .thenThrows('stage_already_running', 'conflict'),
);

test(
  'start_stage of a stage that is not next is out of order',
  given(history.running()).when(cmd.startStage('render')).thenThrows('stage_out_of_order', 'conflict'),
);

test(
  'start_stage of a completed stage is out of order',
  given(history.scriptDone()).when(cmd.startStage('script')).thenThrows('stage_out_of_order', 'conflict'),
);

test(
  'start_stage of a stage the pipeline does not have is invalid',
  given(history.running()).when(cmd.startStage('mix')).thenThrows('unknown_stage', 'unprocessable'),
);

test(
  'start_stage retries a stage that failed with retries left',
  given(history.renderRunning(), ev.stageFailed('render', 1, true))
    .when(cmd.startStage('render'))
    .then([
      {
        type: 'stage_started',
        stage: 'render',
        message: 'stage render started again (attempt 2 of 3)',
        payload: { attempt: 2, max_attempts: 3, retry: true },
      },
    ]),
);

test(
  'start_stage refuses a failed stage whose retries are used up',
  given(history.renderOnLastAttempt(), ev.stageFailed('render', 3, false))
    .when(cmd.startStage('render'))
    .thenThrows('retries_exhausted', 'conflict'),
);

// ---- complete_stage

test(
  'complete_stage completes the running stage with its duration and exit code',
  given(history.scriptRunning())
    .when(cmd.completeStage('script', { duration_ms: 2100, exit_code: 0, payload: { output: 'script.md' } }))
    .then(
      [
        {
          type: 'stage_completed',
          stage: 'script',
          status: 'running',
          message: 'stage script completed in 2.1s',
          payload: { attempt: 1, duration_ms: 2100, exit_code: 0, output: 'script.md' },
        },
      ],
      {
        status: 'running',
        current_stage: null,
        stages: [{ name: 'script', status: 'completed', finished_at: at(1), duration_ms: 2100 }],
      },
    ),
);

test(
  'complete_stage without a duration measures it from the stage start',
  given(history.scriptRunning())
    .when(cmd.completeStage('script'))
    .then([
      { type: 'stage_completed', message: 'stage script completed in 1.0s', payload: { duration_ms: 1000 } },
    ]),
);

test(
  'complete_stage of a stage that is not running is refused',
  given(history.scriptRunning())
    .when(cmd.completeStage('storyboard'))
    .thenThrows('stage_not_running', 'conflict'),
);

test(
  'complete_stage of a gated stage pauses the job at its gate with the deadline',
  given(history.storyboardRunning())
    .when(cmd.completeStage('storyboard'))
    .then(
      [
        { type: 'stage_completed', stage: 'storyboard', status: 'running' },
        {
          type: 'gate_pause',
          stage: 'storyboard',
          status: 'paused',
          message: `job paused at gate storyboard: waiting for a decision until ${at(601)}, then approve automatically`,
          payload: { gate: 'storyboard', deadline: at(601), on_timeout: 'approve', timeout_ms: 600_000 },
        },
      ],
      {
        status: 'paused',
        paused_gate: 'storyboard',
        current_stage: 'storyboard',
        gates: {
          storyboard: { status: 'paused', paused_at: at(1), deadline: at(601), on_timeout: 'approve' },
        },
      },
    ),
);

test(
  'a gate without a timeout pauses with no deadline',
  given(
    history.storyboardRunning(
      pipelineWith({ storyboard: { gate: { on_timeout: 'wait', on_reject: 'fail' } } }),
    ),
  )
    .when(cmd.completeStage('storyboard'))
    .then([
      { type: 'stage_completed' },
      {
        type: 'gate_pause',
        message: 'job paused at gate storyboard: waiting for a decision',
        payload: { gate: 'storyboard', deadline: null, on_timeout: 'wait', timeout_ms: null },
      },
    ]),
);

test(
  'complete_stage of the last stage completes the job',
  given(history.renderRunning())
    .when(cmd.completeStage('render', { duration_ms: 65_000 }))
    .then(
      [
        {
          type: 'stage_completed',
          stage: 'render',
          status: 'running',
          message: 'stage render completed in 1m 05s',
        },
        { type: 'job_completed', stage: null, status: 'completed', payload: { stages: 3 } },
      ],
      { status: 'completed', finished_at: at(1) },
    ),
);

// ---- fail_stage: retry while attempts <= retries, else the job fails

test(
  'fail_stage with retries left fails the stage and keeps the job running',
  given(history.renderRunning())
    .when(cmd.failStage('render', 'exit code 1'))
    .then(
      [
        {
          type: 'stage_failed',
          stage: 'render',
          status: 'running',
          message: 'stage render failed (attempt 1 of 3): exit code 1; it will be retried',
          payload: { reason: 'exit code 1', attempt: 1, max_attempts: 3, will_retry: true },
        },
      ],
      {
        status: 'running',
        stages: [
          { status: 'completed' },
          { status: 'completed' },
          { name: 'render', status: 'failed', last_error: 'exit code 1' },
        ],
      },
    ),
);

test(
  'fail_stage when the retries are exhausted fails the stage and the job',
  given(history.renderOnLastAttempt())
    .when(cmd.failStage('render', 'exit code 1'))
    .then(
      [
        {
          type: 'stage_failed',
          stage: 'render',
          message: 'stage render failed after 3 attempts: exit code 1',
          payload: { reason: 'exit code 1', attempt: 3, will_retry: false },
        },
        {
          type: 'job_failed',
          stage: 'render',
          status: 'failed',
          message: 'job failed: stage render failed after 3 attempts: exit code 1',
          payload: { reason: 'exit code 1', stage: 'render', code: 'stage_failed', attempts: 3 },
        },
      ],
      { status: 'failed', reason: 'exit code 1', failure_code: 'stage_failed' },
    ),
);

test(
  'fail_stage of a stage without retries fails the job at once',
  given(history.scriptRunning())
    .when(cmd.failStage('script', 'no topic'))
    .then([
      { type: 'stage_failed', message: 'stage script failed: no topic', payload: { will_retry: false } },
      { type: 'job_failed', message: 'job failed: stage script failed: no topic' },
    ]),
);

test(
  'fail_stage that is not retryable fails the job even with retries left',
  given(history.renderRunning())
    .when(cmd.failStage('render', 'bad input', { retryable: false }))
    .then([
      {
        type: 'stage_failed',
        message: 'stage render failed (attempt 1 of 3, not retryable): bad input',
        payload: { retryable: false, will_retry: false },
      },
      { type: 'job_failed', payload: { reason: 'bad input', stage: 'render' } },
    ]),
);

test(
  'fail_stage of a stage that is not running is refused',
  given(history.scriptDone()).when(cmd.failStage('script')).thenThrows('stage_not_running', 'conflict'),
);

// ---- external workers report only stages without `run` (the runner owns the others)

test(
  'a worker may not start a stage that has a run command',
  given(history.running())
    .when({ ...cmd.startStage('script'), worker: true })
    .thenThrows('stage_run_by_runner', 'conflict'),
);

test(
  'a worker may not complete a stage that has a run command',
  given(history.scriptRunning())
    .when({ ...cmd.completeStage('script'), worker: true })
    .thenThrows('stage_run_by_runner', 'conflict'),
);

test(
  'a worker may not fail a stage that has a run command',
  given(history.scriptRunning())
    .when({ ...cmd.failStage('script'), worker: true })
    .thenThrows('stage_run_by_runner', 'conflict'),
);

test(
  'a worker starts a stage without a run command',
  given(history.running(pipelineWith({ script: { run: undefined } })))
    .when({ ...cmd.startStage('script'), worker: true })
    .then([{ type: 'stage_started', stage: 'script' }]),
);
