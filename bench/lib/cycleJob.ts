import { randomUUID } from 'node:crypto';
import type { JobCommand } from '../../src/domain/commands.ts';
import type { JobEvent, NewJobEvent, Payload } from '../../src/domain/events.ts';
import { decide, evolve, initialState } from '../../src/domain/jobDecider.ts';
import type { JobState } from '../../src/domain/jobState.ts';
import type { PipelineDefinition } from '../../src/domain/pipeline.ts';
import type { EventData, EventStore } from '../../src/infra/eventstore/eventStore.ts';
import { jobStreamName } from '../../src/infra/eventstore/eventStore.ts';
import { toEventData } from '../../src/infra/eventstore/jobEvents.ts';

/**
 * One stage whose gate reruns it when rejected: start stage (1 event), complete stage (stage_completed +
 * gate_pause), reject gate (gate_rejected + job_resumed), and again: a valid job of any length with a
 * small state. Approving the gate ends it (gate_approved, job_resumed, job_completed).
 */
export const CYCLE_PIPELINE: PipelineDefinition = {
  name: 'cycle',
  stages: [{ name: 'work', retries: 0, env: {}, gate: { on_timeout: 'wait', on_reject: 'rerun' } }],
};

/** The same pipeline as it is written in a config file. */
export const CYCLE_PIPELINE_CONFIG = {
  stages: [{ name: 'work', gate: { on_timeout: 'wait', on_reject: 'rerun' } }],
};

/**
 * Decides a cycle job's commands with the real decider and keeps its state in memory, as the command handler
 * would after reading the stream: the events are exactly those the API would append.
 */
export class CycleJob {
  state: JobState = initialState();
  #clockMs: number | null;

  constructor(
    readonly jobId: string,
    readonly options: { maxEventsPerJob: number; actor?: string; fakeClockFrom?: number },
  ) {
    this.#clockMs = options.fakeClockFrom ?? null;
  }

  get ended(): boolean {
    return ['completed', 'failed', 'canceled'].includes(this.state.status);
  }

  /** The next command of the cycle; `payload` rides on stage start / complete events. */
  nextCommand(payload: Payload = {}): JobCommand {
    const base = { actor: this.options.actor ?? 'bench', ts: this.#now() };
    const s = this.state;
    if (s.status === 'none')
      return { ...base, type: 'create_job', job_id: this.jobId, pipeline: CYCLE_PIPELINE, params: {} };
    if (s.status === 'queued') return { ...base, type: 'start_job' };
    if (s.status === 'paused') return { ...base, type: 'reject_gate', gate: 'work', comment: 'again' };
    if (s.current_stage === 'work') return { ...base, type: 'complete_stage', stage: 'work', payload };
    return { ...base, type: 'start_stage', stage: 'work', payload };
  }

  /** Decides the next command (or the approval that ends the job when `finish` and it is paused). */
  decideNext(payload: Payload = {}, finish = false): NewJobEvent[] {
    const command: JobCommand =
      finish && this.state.status === 'paused'
        ? { actor: 'bench', ts: this.#now(), type: 'approve_gate', gate: 'work', comment: 'done' }
        : this.nextCommand(payload);
    return decide(command, this.state, { maxEventsPerJob: this.options.maxEventsPerJob });
  }

  /** Folds events the store accepted. */
  applied(events: readonly NewJobEvent[], ids: readonly string[]): void {
    for (const [i, event] of events.entries()) {
      const recorded: JobEvent = {
        ...event,
        id: ids[i] ?? randomUUID(),
        job_id: this.jobId,
        seq: this.state.seq + 1,
        position: '0',
      };
      this.state = evolve(this.state, recorded);
    }
  }

  /** The expected revision for the next append. */
  expectedRevision(): number | 'no_stream' {
    return this.state.seq < 0 ? 'no_stream' : this.state.seq;
  }

  #now(): string {
    if (this.#clockMs === null) return new Date().toISOString();
    this.#clockMs += 1;
    return new Date(this.#clockMs).toISOString();
  }
}

/** Decides and appends one command; resolves with the events and the append's global position. */
export async function appendNext(
  store: EventStore,
  job: CycleJob,
  payload: Payload = {},
  finish = false,
): Promise<{ events: NewJobEvent[]; position: string }> {
  const events = job.decideNext(payload, finish);
  const data = events.map((e) => toEventData(e, randomUUID()));
  const result = await store.append(jobStreamName(job.jobId), data, {
    expectedRevision: job.expectedRevision(),
  });
  job.applied(
    events,
    data.map((d) => d.id),
  );
  return { events, position: result.position };
}

/**
 * Decides the next command on the state held here, folds its events at once (optimistically) and starts
 * their append with the expected revision, without waiting for the commit: the store queues its write
 * transactions in call order, so the next command can be decided and appended while this one commits.
 * `committed` rejects (and the state held here is then ahead of the store) when the append fails.
 */
export function startNext(
  store: EventStore,
  job: CycleJob,
  payload: Payload = {},
): { events: NewJobEvent[]; firstSeq: number; committed: Promise<unknown> } {
  const events = job.decideNext(payload);
  const data = events.map((e) => toEventData(e, randomUUID()));
  const expectedRevision = job.expectedRevision();
  const committed = store.append(jobStreamName(job.jobId), data, { expectedRevision });
  job.applied(
    events,
    data.map((d) => d.id),
  );
  return { events, firstSeq: job.state.seq - events.length + 1, committed };
}

/**
 * Appends a cycle job of about `totalEvents` events (ending it with an approval when `finish`), `chunk`
 * events per atomic append. Returns the number of events written and the last position.
 */
export async function seedCycleJob(
  store: EventStore,
  jobId: string,
  totalEvents: number,
  options: { finish?: boolean; chunk?: number; maxEventsPerJob?: number } = {},
): Promise<{ events: number; position: string | null; job: CycleJob }> {
  const job = new CycleJob(jobId, {
    maxEventsPerJob: options.maxEventsPerJob ?? totalEvents + 10,
    fakeClockFrom: Date.now() - 86_400_000,
  });
  const chunk = options.chunk ?? 1000;
  let written = 0;
  let position: string | null = null;
  while (!job.ended) {
    const events: NewJobEvent[] = [];
    const data: EventData[] = [];
    const expectedRevision = job.expectedRevision();
    while (events.length < chunk && !job.ended) {
      const finish = options.finish !== false && written + events.length >= totalEvents - 3;
      if (!finish && written + events.length >= totalEvents) break;
      const decided = job.decideNext({}, finish);
      const ids = decided.map(() => randomUUID());
      job.applied(decided, ids);
      events.push(...decided);
      data.push(...decided.map((e, i) => toEventData(e, ids[i] as string)));
    }
    if (data.length === 0) break;
    position = (await store.append(jobStreamName(jobId), data, { expectedRevision })).position;
    written += data.length;
  }
  return { events: written, position, job };
}
