import type { Logger } from 'pino';
import type { JobEvent } from '../../domain/events.ts';
import { toCanonicalJson } from '../../domain/events.ts';
import type { EventStore } from '../../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX } from '../../infra/eventstore/eventStore.ts';
import { followLog } from '../../infra/eventstore/followLog.ts';
import { toJobEvent } from '../../infra/eventstore/jobEvents.ts';
import type { WireStyle } from './wireFrames.ts';
import { eventFrame } from './wireFrames.ts';

/**
 * An event as the SSE layer holds it: serialised once, each of its frames built once (on first use) and
 * shared by every client that reads the same scope in the same style.
 */
export class WireEvent {
  readonly json: string;
  readonly positionValue: bigint;
  /** Indexed by scope (job / all) x names (canonical / alias) x named (no / yes). */
  private readonly frames: (Buffer | undefined)[] = [];

  constructor(readonly event: JobEvent) {
    this.json = toCanonicalJson(event);
    this.positionValue = BigInt(event.position);
  }

  /** The frame of a per-job stream (`id:` = seq) or of the all-jobs stream (`id:` = global position). */
  frame(scope: 'job' | 'all', style: WireStyle): Buffer {
    const index = (scope === 'job' ? 0 : 4) + (style.names === 'alias' ? 2 : 0) + (style.named ? 1 : 0);
    let frame = this.frames[index];
    if (!frame) {
      const id = scope === 'job' ? this.event.seq : this.event.position;
      frame = Buffer.from(eventFrame(id, this.event.type, this.json, style));
      this.frames[index] = frame;
    }
    return frame;
  }
}

/** A session keeping up with one job: told each new event of that job, in the tail's own loop. */
export interface JobFollower {
  onJobEvent(wire: WireEvent): void;
}

/** A session keeping up with every job: told each new event, in the tail's own loop. */
export interface AllFollower {
  onAnyEvent(wire: WireEvent): void;
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
  /** Sessions keeping up, by job: each new event is written to them in one loop (`push`). */
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

  /** A follower that throws is logged; the later events still reach everyone (the tail goes on). */
  private pushAll(events: readonly WireEvent[]): void {
    let next = 0;
    while (next < events.length) {
      try {
        while (next < events.length) this.push(events[next++] as WireEvent);
      } catch (error) {
        this.options.logger?.error({ err: error }, 'live tail: a follower failed');
      }
    }
  }

  private push(wire: WireEvent): void {
    if (this.head !== null && wire.positionValue <= this.head) return;
    this.ring.push(wire);
    this.head = wire.positionValue;
    if (this.ring.length > this.ringSize) {
      const evicted = this.ring.splice(0, this.ring.length - this.ringSize);
      this.coveredAfter = evicted[evicted.length - 1]!.positionValue;
    }
    const followers = this.jobFollowers.get(wire.event.job_id);
    if (followers) for (const follower of followers) follower.onJobEvent(wire);
    for (const follower of this.allFollowers) follower.onAnyEvent(wire);
    if (this.waiters.size === 0) return;
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const wake of waiters) wake();
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
