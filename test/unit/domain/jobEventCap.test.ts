import test from 'ava';
import { cmd, ev, given, history } from '../../helpers/decider.ts';

// A stream holds at most max_events_per_job events. Its last slot is kept for a terminal event, so a
// job at the cap can always end; a decision that does not fit becomes the job's failure.

test(
  'an event that would pass the cap is refused and the job fails with the reason',
  given(history.scriptRunning()) // 3 events
    .withMaxEvents(4)
    .when(cmd.completeStage('script'))
    .then(
      [
        {
          type: 'job_failed',
          stage: 'script',
          status: 'failed',
          actor: 'runner',
          message:
            'job failed: it reached max_events_per_job (4), so the stage_completed event of complete_stage was refused',
          payload: {
            reason: 'max_events_per_job (4) reached',
            code: 'max_events_exceeded',
            refused: 'stage_completed',
            command: 'complete_stage',
          },
        },
      ],
      {
        status: 'failed',
        event_count: 4,
        reason: 'max_events_per_job (4) reached',
        failure_code: 'max_events_exceeded',
        stages: [{ name: 'script', status: 'failed' }],
      },
    ),
);

test(
  'the refused event named is the first one past the cap',
  given(history.storyboardRunning()) // 5 events
    .withMaxEvents(7)
    .when(cmd.completeStage('storyboard')) // stage_completed + gate_pause
    .then([{ type: 'job_failed', payload: { refused: 'gate_pause', code: 'max_events_exceeded' } }]),
);

test(
  'a terminal event fits in the last slot',
  given(history.scriptRunning())
    .withMaxEvents(4)
    .when(cmd.cancelJob('taking too long'))
    .then([{ type: 'job_canceled', status: 'canceled' }], { event_count: 4 }),
);

test(
  'fail_job fits in the last slot',
  given(history.scriptRunning())
    .withMaxEvents(4)
    .when(cmd.failJob('disk full'))
    .then([{ type: 'job_failed', payload: { reason: 'disk full', code: 'job_failed' } }]),
);

test(
  'a decision that ends the job fits when its terminal event takes the last slot',
  given(history.renderRunning()) // 10 events
    .withMaxEvents(12)
    .when(cmd.completeStage('render'))
    .then([{ type: 'stage_completed' }, { type: 'job_completed' }], { status: 'completed', event_count: 12 }),
);

test(
  'a decision that ends the job but passes the cap is refused too',
  given(history.renderRunning())
    .withMaxEvents(11)
    .when(cmd.completeStage('render'))
    .then([{ type: 'job_failed', payload: { refused: 'stage_completed' } }], { event_count: 11 }),
);

test(
  'a job failed by the event cap cannot be resumed',
  given(
    history.scriptRunning(),
    ev.jobFailed('max_events_per_job (1000) reached', 'max_events_exceeded', 'script'),
  )
    .when(cmd.resumeJob())
    .thenThrows('event_cap_reached', 'conflict'),
);

test(
  'resuming a failed job with no room left is refused rather than failing it twice',
  given(history.failed()) // 4 events
    .withMaxEvents(5)
    .when(cmd.resumeJob())
    .thenThrows('event_cap_reached', 'conflict'),
);
