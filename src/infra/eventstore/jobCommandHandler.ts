import { randomUUID } from 'node:crypto';
import type { JobCommand } from '../../domain/commands.ts';
import { DomainRuleError } from '../../domain/errors.ts';
import type { JobEvent, NewJobEvent } from '../../domain/events.ts';
import { isTerminal } from '../../domain/events.ts';
import { decide, evolve, initialState } from '../../domain/jobDecider.ts';
import type { JobState } from '../../domain/jobState.ts';
import { LruMap } from '../lruMap.ts';
import type { EventStore, ExpectedRevision } from './eventStore.ts';
import { isWrongExpectedRevisionError, jobStreamName } from './eventStore.ts';
import { toEventData, toJobEvent } from './jobEvents.ts';

export interface CommandResult {
  /** The events this command appended (empty when the decision produced none). */
  events: JobEvent[];
  /** The job's state after them. */
  state: JobState;
  /** Global position of the last appended event, or null when nothing was appended. */
  position: string | null;
}

export interface JobCommandHandlerOptions {
  maxEventsPerJob: number;
  /** Re-decisions on fresh state after a concurrent write; default 5. */
  maxRetries?: number;
  /** Called once for every appended event with the job's state after it (the `[events]` log mirror, metrics). */
  onAppended?: (event: JobEvent, state: JobState) => void;
  /** Told how long each store append took, in seconds (metrics). */
  onAppendTimed?: (seconds: number) => void;
  newEventId?: () => string;
  /** Folded job states kept between commands; default 10,000 jobs. */
  cacheSize?: number;
}

export interface HandleOptions {
  /** The client's `If-Match`: the seq it last saw. A mismatch is a conflict, never retried. */
  expectedSeq?: number;
}

/**
 * The client's `If-Match` against the job's seq: `stale_seq` (a conflict) when the job has moved on.
 * @throws DomainRuleError
 */
export function assertExpectedSeq(jobId: string, state: JobState, expectedSeq: number | undefined): void {
  if (expectedSeq === undefined || expectedSeq === state.seq) return;
  throw new DomainRuleError('stale_seq', `job ${jobId} is at seq ${state.seq}, not ${expectedSeq}`, {
    expected: expectedSeq,
    actual: state.seq,
  });
}

/**
 * Read, fold, decide, append with the revision read. On a concurrent write the decision is re-made on fresh
 * state a bounded number of times; with an explicit expected seq it is not.
 */
export class JobCommandHandler {
  private readonly maxRetries: number;
  private readonly newEventId: () => string;
  /**
   * The last folded state of recently used jobs. A load reads only the events after its seq, so a command
   * costs one short range read instead of a fold of the whole stream; the expected revision of the append
   * still proves nothing was missed.
   */
  private readonly states: LruMap<string, JobState>;

  constructor(
    private readonly store: EventStore,
    private readonly options: JobCommandHandlerOptions,
  ) {
    this.maxRetries = options.maxRetries ?? 5;
    this.newEventId = options.newEventId ?? randomUUID;
    this.states = new LruMap(options.cacheSize ?? 10_000);
  }

  async load(jobId: string): Promise<JobState> {
    let state = this.#cached(jobId) ?? initialState();
    for await (const recorded of this.store.readStream(jobStreamName(jobId), {
      fromRevision: state.seq + 1,
    })) {
      state = evolve(state, toJobEvent(recorded));
    }
    if (state.seq >= 0) this.states.set(jobId, state);
    return state;
  }

  /**
   * The cached state, but never an ended job's: retention deletes ended jobs' streams (from this process or
   * another), which nothing here hears of, and an append with the old revision would bring the stream back
   * headless. Commands on ended jobs are rare; they read the stream whole.
   */
  #cached(jobId: string): JobState | undefined {
    const state = this.states.get(jobId);
    if (state === undefined || state.status === 'none' || !isTerminal(state.status)) return state;
    this.states.delete(jobId);
    return undefined;
  }

  async handle(
    jobId: string,
    command: JobCommand | ((state: JobState) => JobCommand),
    options: HandleOptions = {},
  ): Promise<CommandResult> {
    // The first decision is made on the cached state without reading the stream: the append's expected
    // revision proves the cache was current. A conflict, a refusal or an empty decision on cached state is
    // re-made on state read from the store, so a stale cache costs a retry, never a wrong answer.
    let state = this.#cached(jobId);
    for (let attempt = 0; ; attempt++) {
      const fromCache =
        state !== undefined && (options.expectedSeq === undefined || options.expectedSeq === state.seq);
      if (!fromCache || state === undefined) state = await this.load(jobId);
      assertExpectedSeq(jobId, state, options.expectedSeq);
      let decided: NewJobEvent[];
      try {
        decided = decide(typeof command === 'function' ? command(state) : command, state, {
          maxEventsPerJob: this.options.maxEventsPerJob,
        });
      } catch (error) {
        if (!fromCache) throw error;
        state = undefined;
        continue;
      }
      if (decided.length === 0) {
        if (!fromCache) return { events: [], state, position: null };
        state = undefined;
        continue;
      }
      try {
        return await this.append(jobId, state, decided);
      } catch (error) {
        // With an explicit expected seq a conflict is not retried, unless the seq was checked against the
        // cache only: then the next turn reads the stream and answers `stale_seq`.
        const mayRetry = (options.expectedSeq === undefined || fromCache) && attempt < this.maxRetries;
        if (!isWrongExpectedRevisionError(error) || !mayRetry) throw error;
        state = undefined;
      }
    }
  }

  private async append(jobId: string, state: JobState, decided: NewJobEvent[]): Promise<CommandResult> {
    const expectedRevision: ExpectedRevision = state.seq < 0 ? 'no_stream' : state.seq;
    const data = decided.map((event) => toEventData(event, this.newEventId()));
    const started = process.hrtime.bigint();
    const result = await this.store.append(jobStreamName(jobId), data, { expectedRevision });
    this.options.onAppendTimed?.(Number(process.hrtime.bigint() - started) / 1e9);
    // The port returns the last event's position only: one event is built from what was sent; several are
    // read back, so each carries its own position.
    const only = data.length === 1 ? data[0] : undefined;
    const events = only
      ? [
          toJobEvent({
            streamId: jobStreamName(jobId),
            revision: result.nextRevision,
            position: result.position,
            id: only.id,
            type: only.type,
            data: only.data,
            metadata: only.metadata ?? {},
            created: '',
          }),
        ]
      : await this.readBack(jobId, result.nextRevision - data.length + 1, data.length);
    let next = state;
    for (const event of events) {
      next = evolve(next, event);
      this.options.onAppended?.(event, next);
    }
    this.states.set(jobId, next);
    return { events, state: next, position: result.position };
  }

  private async readBack(jobId: string, fromRevision: number, count: number): Promise<JobEvent[]> {
    const events: JobEvent[] = [];
    for await (const recorded of this.store.readStream(jobStreamName(jobId), {
      fromRevision,
      maxCount: count,
    })) {
      events.push(toJobEvent(recorded));
    }
    return events;
  }
}
