import type { ExecutionContext } from 'ava';
import type {
  ApproveGate,
  AutoApproveGate,
  CancelJob,
  CompleteStage,
  CreateJob,
  DecideOptions,
  FailJob,
  FailStage,
  JobCommand,
  RejectGate,
  ResumeJob,
  StartJob,
  StartStage,
} from '../../src/domain/commands.ts';
import { type ErrorKind, isOperatorError } from '../../src/domain/errors.ts';
import type { JobEvent, NewJobEvent, Payload } from '../../src/domain/events.ts';
import { decide, evolve, initialState } from '../../src/domain/jobDecider.ts';
import type { JobState } from '../../src/domain/jobState.ts';
import type { PipelineDefinition, StageDefinition } from '../../src/domain/pipeline.ts';

export const JOB_ID = 'j1';
export const T0 = '2026-11-24T10:00:00.000Z';
export const DEFAULT_OPTIONS: DecideOptions = { maxEventsPerJob: 1000 };

/** The time `seconds` after T0, as commands and events carry it. */
export function at(seconds: number): string {
  return new Date(Date.parse(T0) + seconds * 1000).toISOString();
}

// ---- the sample pipeline: script -> storyboard (gated, 10 min, auto-approve) -> render (2 retries)

export type SampleStage = 'script' | 'storyboard' | 'render';

export const samplePipeline: PipelineDefinition = {
  name: 'video',
  stages: [
    { name: 'script', run: 'make-script', retries: 0, env: {} },
    {
      name: 'storyboard',
      run: 'make-storyboard',
      retries: 0,
      env: {},
      gate: { timeout: 600_000, on_timeout: 'approve', on_reject: 'fail' },
    },
    { name: 'render', run: 'render', retries: 2, env: {} },
  ],
};

/** The sample pipeline with some stages changed, e.g. `pipelineWith({ storyboard: { gate: {...} } })`. */
export function pipelineWith(
  changes: Partial<Record<SampleStage, Partial<StageDefinition>>>,
): PipelineDefinition {
  return {
    ...samplePipeline,
    stages: samplePipeline.stages.map((s) => ({ ...s, ...changes[s.name as SampleStage] })),
  };
}

export const rerunPipeline = pipelineWith({
  storyboard: { gate: { timeout: 600_000, on_timeout: 'approve', on_reject: 'rerun' } },
});

/** Render is gated too, so approving its gate completes the job. */
export const lastStageGatedPipeline = pipelineWith({
  render: { gate: { on_timeout: 'wait', on_reject: 'fail' } },
});

// ---- commands

const by = (actor: string, seconds = 1) => ({ actor, ts: at(seconds) });

export const cmd = {
  createJob: (pipeline = samplePipeline, params: Payload = { topic: 'cats' }): CreateJob => ({
    type: 'create_job',
    job_id: JOB_ID,
    pipeline,
    params,
    ...by('alice', 0),
  }),
  startJob: (): StartJob => ({ type: 'start_job', ...by('runner') }),
  startStage: (stage: string): StartStage => ({ type: 'start_stage', stage, ...by('runner') }),
  completeStage: (stage: string, extra: Partial<CompleteStage> = {}): CompleteStage => ({
    type: 'complete_stage',
    stage,
    ...by('runner'),
    ...extra,
  }),
  failStage: (stage: string, reason = 'exit code 1', extra: Partial<FailStage> = {}): FailStage => ({
    type: 'fail_stage',
    stage,
    reason,
    ...by('runner'),
    ...extra,
  }),
  approveGate: (gate: string, actor = 'alice', comment?: string): ApproveGate => ({
    type: 'approve_gate',
    gate,
    ...(comment === undefined ? {} : { comment }),
    ...by(actor),
  }),
  autoApproveGate: (gate: string): AutoApproveGate => ({
    type: 'auto_approve_gate',
    gate,
    ...by('timer', 601),
  }),
  rejectGate: (gate: string, actor = 'bob', comment?: string, reason?: string): RejectGate => ({
    type: 'reject_gate',
    gate,
    ...(comment === undefined ? {} : { comment }),
    ...(reason === undefined ? {} : { reason }),
    ...by(actor),
  }),
  failJob: (reason = 'disk full', actor = 'alice'): FailJob => ({ type: 'fail_job', reason, ...by(actor) }),
  cancelJob: (reason?: string, actor = 'alice'): CancelJob => ({
    type: 'cancel_job',
    ...(reason === undefined ? {} : { reason }),
    ...by(actor),
  }),
  resumeJob: (reason?: string, actor = 'alice'): ResumeJob => ({
    type: 'resume_job',
    ...(reason === undefined ? {} : { reason }),
    ...by(actor),
  }),
};

/** One command of every kind, for rules that hold whatever the command. */
export const everyCommand: readonly JobCommand[] = [
  cmd.createJob(),
  cmd.startJob(),
  cmd.startStage('script'),
  cmd.completeStage('script'),
  cmd.failStage('script'),
  cmd.approveGate('storyboard'),
  cmd.autoApproveGate('storyboard'),
  cmd.rejectGate('storyboard'),
  cmd.failJob(),
  cmd.cancelJob(),
  cmd.resumeJob(),
];

// ---- past events (the "given" facts); only what evolve reads matters, messages stay short

type Fields = Pick<NewJobEvent, 'stage' | 'status'> & { payload?: Payload; actor?: string; message?: string };

function fact(type: NewJobEvent['type'], fields: Fields): NewJobEvent {
  return {
    type,
    ts: T0,
    message: fields.message ?? type.replace('_', ' '),
    payload: {},
    actor: 'runner',
    ...fields,
  };
}

export const ev = {
  jobCreated: (pipeline = samplePipeline) =>
    fact('job_created', {
      stage: null,
      status: 'queued',
      actor: 'alice',
      payload: { pipeline, params: { topic: 'cats' } },
    }),
  jobStarted: () => fact('job_started', { stage: null, status: 'running' }),
  stageStarted: (stage: string, attempt = 1) =>
    fact('stage_started', { stage, status: 'running', payload: { attempt } }),
  stageCompleted: (stage: string) =>
    fact('stage_completed', { stage, status: 'running', payload: { duration_ms: 2100, exit_code: 0 } }),
  stageFailed: (stage: string, attempt: number, willRetry: boolean) =>
    fact('stage_failed', {
      stage,
      status: 'running',
      payload: { reason: 'exit code 1', attempt, will_retry: willRetry },
    }),
  gatePaused: (gate: string, stage = gate) =>
    fact('gate_pause', {
      stage,
      status: 'paused',
      payload: { gate, deadline: at(600), on_timeout: 'approve', timeout_ms: 600_000 },
    }),
  gateApproved: (gate: string, actor = 'alice', stage = gate) =>
    fact('gate_approved', {
      stage,
      status: 'paused',
      actor,
      payload: { gate, comment: null, by_timer: false },
    }),
  gateRejected: (gate: string, actor = 'bob', stage = gate) =>
    fact('gate_rejected', {
      stage,
      status: 'paused',
      actor,
      payload: { gate, comment: 'too dark', by_timer: false },
    }),
  jobResumed: (payload: Payload, stage: string | null = null) =>
    fact('job_resumed', { stage, status: 'running', payload }),
  jobCompleted: () => fact('job_completed', { stage: null, status: 'completed' }),
  jobFailed: (reason = 'disk full', code = 'job_failed', stage: string | null = null) =>
    fact('job_failed', { stage, status: 'failed', payload: { reason, code, stage } }),
  jobCanceled: () => fact('job_canceled', { stage: null, status: 'canceled', actor: 'alice', payload: {} }),
};

// ---- named histories

export const history = {
  created: (pipeline = samplePipeline) => [ev.jobCreated(pipeline)],
  running: (pipeline = samplePipeline) => [...history.created(pipeline), ev.jobStarted()],
  scriptRunning: (pipeline = samplePipeline) => [...history.running(pipeline), ev.stageStarted('script')],
  scriptDone: (pipeline = samplePipeline) => [
    ...history.scriptRunning(pipeline),
    ev.stageCompleted('script'),
  ],
  storyboardRunning: (pipeline = samplePipeline) => [
    ...history.scriptDone(pipeline),
    ev.stageStarted('storyboard'),
  ],
  pausedAtStoryboard: (pipeline = samplePipeline) => [
    ...history.storyboardRunning(pipeline),
    ev.stageCompleted('storyboard'),
    ev.gatePaused('storyboard'),
  ],
  storyboardApproved: (pipeline = samplePipeline) => [
    ...history.pausedAtStoryboard(pipeline),
    ev.gateApproved('storyboard'),
    ev.jobResumed({ after_gate: 'storyboard' }, 'storyboard'),
  ],
  renderRunning: (pipeline = samplePipeline) => [
    ...history.storyboardApproved(pipeline),
    ev.stageStarted('render'),
  ],
  /** Render failed on its first two attempts: one attempt left. */
  renderOnLastAttempt: () => [
    ...history.renderRunning(),
    ev.stageFailed('render', 1, true),
    ev.stageStarted('render', 2),
    ev.stageFailed('render', 2, true),
    ev.stageStarted('render', 3),
  ],
  renderExhausted: () => [
    ...history.renderOnLastAttempt(),
    ev.stageFailed('render', 3, false),
    ev.jobFailed('exit code 1', 'stage_failed', 'render'),
  ],
  completed: () => [...history.renderRunning(), ev.stageCompleted('render'), ev.jobCompleted()],
  failed: () => [...history.scriptRunning(), ev.jobFailed()],
  canceled: () => [...history.running(), ev.jobCanceled()],
};

// ---- given / when / then

type Fact = NewJobEvent | JobEvent;
type Implementation = (t: ExecutionContext) => void;
type DeepPartial<T> = T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** Gives recorded-event fields (id, job_id, seq, position) to events that have none yet. */
export function record(events: readonly Fact[], firstSeq = 0): JobEvent[] {
  return events.map((e, i) => {
    const seq = firstSeq + i;
    return 'seq' in e ? e : { ...e, id: `e${seq}`, job_id: JOB_ID, seq, position: String(100 + seq) };
  });
}

export function fold(events: readonly Fact[], from: JobState = initialState()): JobState {
  return record(events, from.seq + 1).reduce(evolve, from);
}

/** `given(...past events).when(command).then(expected events)`: each call returns an ava implementation. */
export function given(...facts: (Fact | readonly Fact[])[]) {
  const state = fold(facts.flat());
  let options = DEFAULT_OPTIONS;
  const scenario = {
    state,
    withMaxEvents(maxEventsPerJob: number) {
      options = { maxEventsPerJob };
      return scenario;
    },
    when(command: JobCommand) {
      const run = () => decide(command, state, options);
      return {
        /** The produced events, in order, each matching its expected subset; `after` checks the folded state. */
        // biome-ignore lint/suspicious/noThenProperty: given/when/then is the spec's vocabulary; this object is never awaited.
        then(expected: DeepPartial<NewJobEvent>[], after?: DeepPartial<JobState>): Implementation {
          return (t) => {
            const events = run();
            t.deepEqual(
              events.map((e) => e.type),
              expected.map((e) => e.type),
              'event types',
            );
            for (const [i, event] of events.entries()) {
              t.like(event, { ts: command.ts, actor: command.actor, ...expected[i] } as Record<
                string,
                unknown
              >);
              t.true(event.message.length > 0, `${event.type} has a message`);
            }
            if (after) t.like(fold(events, state), after as Record<string, unknown>);
          };
        },
        /** The command is refused with this code, of this kind (what went wrong, not how a transport says it). */
        thenThrows(code: string, kind: ErrorKind): Implementation {
          return (t) => {
            const error = t.throws(run);
            t.true(isOperatorError(error), `an OperatorError, got ${error?.name}`);
            t.like(error, { code, kind });
          };
        },
      };
    },
  };
  return scenario;
}
