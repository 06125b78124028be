import { randomUUID } from 'node:crypto';
import type { JobCommand } from '../../src/domain/commands.ts';
import { decide, evolve, initialState } from '../../src/domain/jobDecider.ts';
import type { JobState } from '../../src/domain/jobState.ts';
import type { PipelineDefinition } from '../../src/domain/pipeline.ts';
import type { AppendResult, EventStore } from '../../src/infra/eventstore/eventStore.ts';
import { jobStreamName } from '../../src/infra/eventstore/eventStore.ts';
import { toEventData, toJobEvent } from '../../src/infra/eventstore/jobEvents.ts';

/** script -> storyboard (gated, a rejection reruns it) -> render (one retry). */
export const trafficPipeline: PipelineDefinition = {
  name: 'video',
  stages: [
    { name: 'script', run: 'make-script', retries: 0, env: {} },
    {
      name: 'storyboard',
      run: 'make-storyboard',
      retries: 0,
      env: {},
      gate: { timeout: 600_000, on_timeout: 'approve', on_reject: 'rerun' },
    },
    { name: 'render', run: 'render', retries: 1, env: {} },
  ],
};

export type Outcome = 'completed' | 'rerun' | 'retried' | 'failed' | 'canceled' | 'paused' | 'queued';
export const OUTCOMES: readonly Outcome[] = [
  'completed',
  'rerun',
  'retried',
  'failed',
  'canceled',
  'paused',
  'queued',
];

type Step = {
  [C in JobCommand as C['type']]: Omit<C, 'actor' | 'ts'> & { actor?: string };
}[JobCommand['type']];

/** The commands that take a job to `outcome`. */
export function plan(jobId: string, outcome: Outcome): Step[] {
  const create: Step = {
    type: 'create_job',
    job_id: jobId,
    pipeline: trafficPipeline,
    params: { topic: `topic of ${jobId}`, n: jobId.length },
    actor: 'alice',
  };
  if (outcome === 'queued') return [create];
  const upToGate: Step[] = [
    create,
    { type: 'start_job' },
    { type: 'start_stage', stage: 'script' },
    { type: 'complete_stage', stage: 'script', duration_ms: 1200, exit_code: 0 },
    { type: 'start_stage', stage: 'storyboard' },
    { type: 'complete_stage', stage: 'storyboard', duration_ms: 800, exit_code: 0 },
  ];
  const afterGate: Step[] = [
    { type: 'start_stage', stage: 'render' },
    { type: 'complete_stage', stage: 'render', duration_ms: 3000, exit_code: 0 },
  ];
  switch (outcome) {
    case 'paused':
      return upToGate;
    case 'completed':
      return [
        ...upToGate,
        { type: 'approve_gate', gate: 'storyboard', comment: 'fine', actor: 'alice' },
        ...afterGate,
      ];
    case 'rerun':
      return [
        ...upToGate,
        { type: 'reject_gate', gate: 'storyboard', comment: 'too dark', actor: 'bob' },
        { type: 'start_stage', stage: 'storyboard' },
        { type: 'complete_stage', stage: 'storyboard', duration_ms: 900, exit_code: 0 },
        { type: 'auto_approve_gate', gate: 'storyboard', actor: 'timer' },
        ...afterGate,
      ];
    case 'retried':
      return [
        ...upToGate,
        { type: 'approve_gate', gate: 'storyboard', actor: 'carol' },
        { type: 'start_stage', stage: 'render' },
        { type: 'fail_stage', stage: 'render', reason: 'exit code 1' },
        ...afterGate,
      ];
    case 'failed':
      return [
        create,
        { type: 'start_job' },
        { type: 'start_stage', stage: 'script' },
        { type: 'fail_stage', stage: 'script', reason: 'exit code 2' },
      ];
    case 'canceled':
      return [
        create,
        { type: 'start_job' },
        { type: 'start_stage', stage: 'script' },
        { type: 'cancel_job', reason: 'not needed' },
      ];
  }
}

/**
 * Runs commands through the real decider and appends what it decides, as the command handler does: the
 * store gets realistic job streams. Times advance by one second per command.
 */
export class JobTraffic {
  readonly #states = new Map<string, JobState>();
  #clock: number;

  constructor(
    readonly store: EventStore,
    start = '2026-11-24T10:00:00.000Z',
  ) {
    this.#clock = Date.parse(start);
  }

  async run(jobId: string, step: Step): Promise<AppendResult> {
    this.#clock += 1000;
    const command = { actor: 'runner', ...step, ts: new Date(this.#clock).toISOString() } as JobCommand;
    const state = this.#states.get(jobId) ?? initialState();
    const events = decide(command, state, { maxEventsPerJob: 1000 });
    const result = await this.store.append(
      jobStreamName(jobId),
      events.map((e) => toEventData(e, randomUUID())),
      { expectedRevision: state.seq === -1 ? 'no_stream' : state.seq },
    );
    let next = state;
    const first = result.nextRevision - events.length + 1;
    for (const [i, e] of events.entries())
      next = evolve(next, {
        ...e,
        id: 'x',
        job_id: jobId,
        seq: first + i,
        position: result.position,
      });
    this.#states.set(jobId, next);
    return result;
  }

  async runPlan(jobId: string, outcome: Outcome): Promise<AppendResult | null> {
    let last: AppendResult | null = null;
    for (const step of plan(jobId, outcome)) last = await this.run(jobId, step);
    return last;
  }

  /**
   * Many jobs at once: `jobs` plans (outcomes in rotation), with up to `concurrency` jobs advancing
   * together so that their events interleave in `$all`.
   */
  async runMany(options: {
    jobs: number;
    concurrency: number;
    prefix?: string;
    seed?: number;
  }): Promise<void> {
    let random = options.seed ?? 42;
    const next = () => {
      random = (random * 1103515245 + 12345) % 2147483648;
      return random / 2147483648;
    };
    const queue = Array.from({ length: options.jobs }, (_, i) => ({
      jobId: `${options.prefix ?? 'j'}${String(i).padStart(5, '0')}`,
      steps: plan('', OUTCOMES[i % OUTCOMES.length] as Outcome),
    }));
    const lanes = async () => {
      for (let job = queue.shift(); job; job = queue.shift())
        for (const step of job.steps) {
          await this.run(job.jobId, step.type === 'create_job' ? { ...step, job_id: job.jobId } : step);
          if (next() < 0.3) await new Promise((resolve) => setImmediate(resolve));
        }
    };
    await Promise.all(Array.from({ length: options.concurrency }, lanes));
  }
}

/** Every job event in the store, in position order, as readers see it. */
export async function allJobEvents(store: EventStore): Promise<ReturnType<typeof toJobEvent>[]> {
  const out: ReturnType<typeof toJobEvent>[] = [];
  for await (const recorded of store.readAll({ filter: { streamNamePrefix: ['job-'] } }))
    out.push(toJobEvent(recorded));
  return out;
}
