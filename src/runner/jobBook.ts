import type { JobEvent } from '../domain/events.ts';
import { evolve, initialState, isJobTerminal } from '../domain/jobDecider.ts';
import type { JobState } from '../domain/jobState.ts';
import { LruMap } from '../infra/lruMap.ts';

interface TrackedJob {
  state: JobState;
  /** FIFO order: the position of its `job_created` (or of the first event seen of it). */
  order: bigint;
  lane: number | null;
}

export interface QueueInfo {
  /** 1-based place among the queued jobs, null when the job is not queued. */
  queue_position: number | null;
  /** The lane the job holds, null when it holds none. */
  lane: number | null;
}

/** What `apply` did with an event: folded it, ignored it (already known), or cannot fold it (load the job). */
export type ApplyResult = 'applied' | 'stale' | 'gap';

/**
 * The runner's memory: every unfinished job's folded state, its FIFO order and its lane. Everything in it is
 * rebuilt from the log. Finished jobs leave it (memory stays bounded by the unfinished ones); a small LRU of
 * their last seq keeps late copies of their events from being mistaken for news.
 */
export class JobBook {
  readonly #jobs = new Map<string, TrackedJob>();
  /** Queued jobs someone asked to start (`POST /jobs/{id}/start` without a free lane): first asked, first out. */
  readonly #front = new Map<string, { at: bigint; by: string }>();
  readonly #ended = new LruMap<string, number>(10_000);

  constructor(private readonly options: { lanes: number; gateHoldsLane: boolean }) {}

  get(jobId: string): JobState | undefined {
    return this.#jobs.get(jobId)?.state;
  }

  jobIds(): string[] {
    return [...this.#jobs.keys()];
  }

  /** Folds an event of the log in seq order. */
  apply(event: JobEvent): ApplyResult {
    const tracked = this.#jobs.get(event.job_id);
    if (tracked) {
      if (event.seq <= tracked.state.seq) return 'stale';
      if (event.seq !== tracked.state.seq + 1) return 'gap';
      this.#set(event.job_id, evolve(tracked.state, event), tracked.order);
      return 'applied';
    }
    const endedAt = this.#ended.get(event.job_id);
    if (endedAt !== undefined && event.seq <= endedAt) return 'stale';
    if (event.type !== 'job_created' || event.seq !== 0) return 'gap';
    this.#set(event.job_id, evolve(initialState(), event), BigInt(event.position));
    return 'applied';
  }

  /** Takes a state read from the store or returned by a command, when it is newer than what is known. */
  put(jobId: string, state: JobState, order: bigint): void {
    const known = this.#jobs.get(jobId)?.state.seq ?? this.#ended.get(jobId) ?? -1;
    if (state.seq <= known || state.status === 'none') return;
    this.#set(jobId, state, this.#jobs.get(jobId)?.order ?? order);
  }

  /** Jobs that occupy a lane now. */
  occupied(): number {
    let n = 0;
    for (const job of this.#jobs.values()) if (job.lane !== null) n++;
    return n;
  }

  /** Puts a queued job at the front of the queue (behind those asked for earlier). */
  toFront(jobId: string, at: bigint, by: string): void {
    if (this.#jobs.get(jobId)?.state.status !== 'queued' || this.#front.has(jobId)) return;
    this.#front.set(jobId, { at, by });
  }

  /** Who asked for a job at the front of the queue, if someone did. */
  frontRequest(jobId: string): string | undefined {
    return this.#front.get(jobId)?.by;
  }

  /** The next queued job: the first asked for at the front, else the one created first. */
  firstQueued(): string | undefined {
    let first: [string, TrackedJob] | undefined;
    for (const entry of this.#jobs)
      if (
        entry[1].state.status === 'queued' &&
        (!first || this.#before(entry[0], entry[1], first[0], first[1]))
      )
        first = entry;
    return first?.[0];
  }

  queueInfo(jobId: string): QueueInfo {
    const job = this.#jobs.get(jobId);
    if (!job) return { queue_position: null, lane: null };
    if (job.state.status !== 'queued') return { queue_position: null, lane: job.lane };
    let ahead = 0;
    for (const [otherId, other] of this.#jobs)
      if (other.state.status === 'queued' && this.#before(otherId, other, jobId, job)) ahead++;
    return { queue_position: ahead + 1, lane: null };
  }

  /** Queue order: front requests first (in the order asked), then creation order. */
  #before(aId: string, a: TrackedJob, bId: string, b: TrackedJob): boolean {
    const fa = this.#front.get(aId);
    const fb = this.#front.get(bId);
    if (fa && fb) return fa.at < fb.at;
    if (fa || fb) return fa !== undefined;
    return a.order < b.order;
  }

  /** A running job holds a lane; a paused one too unless `gate_holds_lane` is false. */
  #holdsLane(state: JobState): boolean {
    return state.status === 'running' || (state.status === 'paused' && this.options.gateHoldsLane);
  }

  #set(jobId: string, state: JobState, order: bigint): void {
    if (state.status !== 'queued') this.#front.delete(jobId);
    if (isJobTerminal(state)) {
      this.#jobs.delete(jobId);
      this.#ended.set(jobId, state.seq);
      return;
    }
    this.#ended.delete(jobId);
    const lane = this.#holdsLane(state) ? (this.#jobs.get(jobId)?.lane ?? this.#freeLane()) : null;
    this.#jobs.set(jobId, { state, order, lane });
  }

  /** The lowest lane number not taken; above `lanes` only when a job was started or resumed past the limit. */
  #freeLane(): number {
    const taken = new Set<number>();
    for (const job of this.#jobs.values()) if (job.lane !== null) taken.add(job.lane);
    let lane = 1;
    while (taken.has(lane)) lane++;
    return lane;
  }
}
