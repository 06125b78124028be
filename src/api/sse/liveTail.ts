import type { Logger } from 'pino';
import type { EventStore } from '../../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX } from '../../infra/eventstore/eventStore.ts';
import { followLog } from '../../infra/eventstore/followLog.ts';
import { toJobEvent } from '../../infra/eventstore/jobEvents.ts';
import { WireBatch, WireEvent } from './wireFrames.ts';

/**
 * A session keeping up with one job: told the new events of that job (one or more, consecutive in the log
 * order of that job), in the tail's own loop.
 */
export interface JobFollower {
  onJobEvents(batch: WireBatch): void;
}

/** A session keeping up with every job: told the new events (one or more, in log order), in the tail's own loop. */
export interface AllFollower {
  onAnyEvents(batch: WireBatch): void;
}

export interface LiveTailOptions {
  /** Events kept for clients that join or fall slightly behind; default 10,000. */
  ringSize?: number;
  logger?: Logger;
}

/**
 * The process's single live subscription to `$all` (job streams). Clients read their own history from the
 * store, then follow this tail's ring of recent events: one store subscription per process, however many
 * clients there are.
 */
export class LiveTail {
  private readonly ring: WireEvent[] = [];
  private readonly ringSize: number;
  private readonly following = new AbortController();
  private followed: Promise<void> | null = null;
  private waiters = new Set<() => void>();
  /** Sessions keeping up, by job: new events are written to them in one loop (`pushAll`). */
  private readonly jobFollowers = new Map<string, Set<JobFollower>>();
  private readonly allFollowers = new Set<AllFollower>();
  private readonly abortWaiters = new WeakMap<AbortSignal, Set<() => void>>();
  private readyResolve!: () => void;
  /** Resolves once the tail knows where the store's end was when it started. */
  readonly ready: Promise<void> = new Promise((resolve) => {
    this.readyResolve = resolve;
  });
  private started = false;
  private stopped = false;
  /** Every event after this position is in the ring (or was evicted, which moves this forward). */
  private coveredAfter: bigint | null = null;
  /** The last position this tail has seen. */
  private head: bigint | null = null;

  constructor(
    private readonly store: EventStore,
    private readonly options: LiveTailOptions = {},
  ) {
    this.ringSize = options.ringSize ?? 10_000;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.followed = this.follow();
  }

  /** From the end of the log as it is now: clients read older events from the store themselves. */
  private async follow(): Promise<void> {
    const batches = followLog(this.store, {
      from: 'end',
      filter: { streamNamePrefix: [JOB_STREAM_PREFIX] },
      signal: this.following.signal,
      decode: (event) => new WireEvent(toJobEvent(event)),
      onError: (error, retryInMs) =>
        this.options.logger?.error(
          { err: error, retry_in_ms: retryInMs },
          'live tail subscription failed; resubscribing',
        ),
    });
    for await (const batch of batches) {
      this.pushAll(batch.events);
      if (batch.caughtUp && this.head === null) {
        const position = batch.caughtUp.position;
        this.head = position === null ? -1n : BigInt(position);
        this.coveredAfter = this.head;
        this.readyResolve();
      }
    }
  }

  /**
   * Puts new events in the ring, then hands each follower that keeps up all of them at once (one batch per
   * job for job streams, one for the all-jobs stream). A follower that throws is logged; the others still
   * get the batch (the tail goes on).
   */
  private pushAll(events: readonly WireEvent[]): void {
    const fresh = this.admit(events);
    if (fresh.length === 0) return;
    if (this.jobFollowers.size > 0) this.fanOutJobs(fresh);
    if (this.allFollowers.size > 0) {
      const batch = new WireBatch(fresh);
      for (const follower of this.allFollowers) {
        try {
          follower.onAnyEvents(batch);
        } catch (error) {
          this.followerFailed(error);
        }
      }
    }
    if (this.waiters.size === 0) return;
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const wake of waiters) wake();
  }

  /** The events after the head, now in the ring; the ring drops its oldest beyond its size. */
  private admit(events: readonly WireEvent[]): WireEvent[] {
    const fresh: WireEvent[] = [];
    for (const wire of events) {
      if (this.head !== null && wire.positionValue <= this.head) continue;
      this.ring.push(wire);
      this.head = wire.positionValue;
      fresh.push(wire);
    }
    // One shift per event evicted: V8 trims the array's front in place, where a splice from the front of
    // a full ring moved all 10,000 entries (hundreds of microseconds per call).
    let evicted: WireEvent | undefined;
    while (this.ring.length > this.ringSize) evicted = this.ring.shift();
    if (evicted) this.coveredAfter = evicted.positionValue;
    return fresh;
  }

  private fanOutJobs(fresh: WireEvent[]): void {
    if (fresh.length === 1) {
      this.fanOutJob(fresh[0]!.event.job_id, fresh);
      return;
    }
    const byJob = new Map<string, WireEvent[]>();
    for (const wire of fresh) {
      const jobId = wire.event.job_id;
      if (!this.jobFollowers.has(jobId)) continue;
      const events = byJob.get(jobId);
      if (events) events.push(wire);
      else byJob.set(jobId, [wire]);
    }
    for (const [jobId, events] of byJob) this.fanOutJob(jobId, events);
  }

  private fanOutJob(jobId: string, events: WireEvent[]): void {
    const followers = this.jobFollowers.get(jobId);
    if (!followers) return;
    const batch = new WireBatch(events);
    for (const follower of followers) {
      try {
        follower.onJobEvents(batch);
      } catch (error) {
        this.followerFailed(error);
      }
    }
  }

  private followerFailed(error: unknown): void {
    this.options.logger?.error({ err: error }, 'live tail: a follower failed');
  }

  /**
   * Joins the fan-out loop of one job if the follower has seen everything up to `through` and that is the
   * tail's head (then no event can fall between its catch-up and the loop); false: catch up further first.
   */
  joinJob(jobId: string, follower: JobFollower, through: bigint): boolean {
    if (this.stopped || this.head === null || this.head !== through) return false;
    let followers = this.jobFollowers.get(jobId);
    if (!followers) {
      followers = new Set();
      this.jobFollowers.set(jobId, followers);
    }
    followers.add(follower);
    return true;
  }

  leaveJob(jobId: string, follower: JobFollower): void {
    const followers = this.jobFollowers.get(jobId);
    if (!followers) return;
    followers.delete(follower);
    if (followers.size === 0) this.jobFollowers.delete(jobId);
  }

  /** Joins the all-jobs fan-out loop under the same rule as `joinJob`. */
  joinAll(follower: AllFollower, through: bigint): boolean {
    if (this.stopped || this.head === null || this.head !== through) return false;
    this.allFollowers.add(follower);
    return true;
  }

  leaveAll(follower: AllFollower): void {
    this.allFollowers.delete(follower);
  }

  /** The last position seen, or null before the tail is ready. */
  position(): bigint | null {
    return this.head;
  }

  /** True when every event after `position` is available from the ring. */
  covers(position: bigint): boolean {
    return this.coveredAfter !== null && this.coveredAfter <= position;
  }

  /** Up to `max` ring events after `position`, in order. Only meaningful when `covers(position)`. */
  eventsAfter(position: bigint, max: number): WireEvent[] {
    const ring = this.ring;
    let lo = 0;
    let hi = ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ring[mid]!.positionValue <= position) lo = mid + 1;
      else hi = mid;
    }
    return ring.slice(lo, lo + max);
  }

  /** Resolves when the tail has seen something after `position`, or when `signal` aborts / the tail stops. */
  waitBeyond(position: bigint, signal: AbortSignal): Promise<void> {
    if (this.stopped || signal.aborted || (this.head !== null && this.head > position))
      return Promise.resolve();
    return new Promise((resolve) => {
      const onAbort = this.abortWaitersOf(signal);
      const wake = () => {
        onAbort.delete(wake);
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
      onAbort.add(wake);
    });
  }

  /**
   * The waiters of one client, woken when its signal aborts. One abort listener per client for its whole
   * life: adding and removing a listener on every wake-up cost more than the wake-up itself.
   */
  private abortWaitersOf(signal: AbortSignal): Set<() => void> {
    let waiters = this.abortWaiters.get(signal);
    if (!waiters) {
      const created = new Set<() => void>();
      signal.addEventListener(
        'abort',
        () => {
          for (const wake of created) wake();
        },
        { once: true },
      );
      this.abortWaiters.set(signal, created);
      waiters = created;
    }
    return waiters;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.readyResolve();
    for (const wake of this.waiters) wake();
    this.waiters.clear();
    this.jobFollowers.clear();
    this.allFollowers.clear();
    this.following.abort();
    await this.followed;
  }

  get isStopped(): boolean {
    return this.stopped;
  }
}
