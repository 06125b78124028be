import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { EventStore, Subscription } from '../../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX, jobIdFromStream } from '../../infra/eventstore/eventStore.ts';
import type { StoredStageLog } from '../../infra/eventstore/stageLogStreams.ts';
import { LOG_STREAM_PREFIX, toStoredStageLog } from '../../infra/eventstore/stageLogStreams.ts';

/**
 * What a follower is told: a new log record of its stage, that its job moved (an event of the job: the
 * stage may have ended), or that notices were lost (it fell behind, or the subscription was reopened) so
 * it must catch up from the store.
 */
export type LogNotice = { kind: 'log'; stored: StoredStageLog } | { kind: 'job' } | { kind: 'lost' };

/** Notices a follower may have waiting; past it they are dropped for one `lost` (it reads the store instead). */
const MAX_QUEUED = 256;

/** One follower of one stage's log: a bounded queue the hub fills and the follower drains. */
export class LogFollower {
  #queue: LogNotice[] = [];
  #wake: (() => void) | null = null;

  constructor(
    readonly jobId: string,
    readonly stage: string,
  ) {}

  push(notice: LogNotice): void {
    if (this.#queue.length >= MAX_QUEUED) this.#queue = [{ kind: 'lost' }];
    else this.#queue.push(notice);
    this.#wake?.();
  }

  /** The notices so far, waiting for one if there are none; `[]` once `signal` aborts. */
  async take(signal: AbortSignal): Promise<LogNotice[]> {
    while (this.#queue.length === 0 && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.#wake = null;
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.#wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
    const out = this.#queue;
    this.#queue = [];
    return signal.aborted ? [] : out;
  }
}

/**
 * The process's one live subscription for log followers: `$all` filtered by `joblog-` (the records) and
 * `job-` (so a follower learns when its stage ends), fanned out to every follower of the stage or job. It
 * runs while someone follows and stops with the last one. Followers read history from the store
 * themselves and use the hub only for what comes next; a notice's byte offset tells them whether it is
 * new, already sent, or past a gap they must fill from the store, so joining live needs no coordination.
 */
export class StageLogHub {
  readonly #followers = new Map<string, Set<LogFollower>>();
  #count = 0;
  #subscription: Subscription | null = null;
  #loop: Promise<void> | null = null;
  #ready: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: EventStore,
    private readonly logger: Logger,
  ) {}

  /** Followers now (metrics, tests). */
  get followers(): number {
    return this.#count;
  }

  /** True while the hub's subscription runs. */
  get live(): boolean {
    return this.#loop !== null;
  }

  /** Registers a follower; resolves once the live subscription is established, so nothing appended after it is missed. */
  async join(jobId: string, stage: string): Promise<LogFollower> {
    const follower = new LogFollower(jobId, stage);
    let set = this.#followers.get(jobId);
    if (!set) {
      set = new Set();
      this.#followers.set(jobId, set);
    }
    set.add(follower);
    this.#count++;
    if (this.#loop === null) this.#start();
    await this.#ready;
    return follower;
  }

  leave(follower: LogFollower): void {
    const set = this.#followers.get(follower.jobId);
    if (!set?.delete(follower)) return;
    this.#count--;
    if (set.size === 0) this.#followers.delete(follower.jobId);
    if (this.#count === 0) void this.#subscription?.close().catch(() => {});
  }

  #start(): void {
    let markReady!: () => void;
    this.#ready = new Promise((resolve) => {
      markReady = resolve;
    });
    this.#loop = this.#follow(markReady).finally(() => {
      this.#loop = null;
      markReady();
      if (this.#count > 0) this.#start(); // someone joined while it was closing
    });
  }

  async #follow(markReady: () => void): Promise<void> {
    let from = 'end';
    for (let delay = 100; this.#count > 0; delay = Math.min(delay * 2, 5000)) {
      const subscription = this.store.subscribeToAll({
        fromPosition: from,
        filter: { streamNamePrefix: [LOG_STREAM_PREFIX, JOB_STREAM_PREFIX] },
      });
      this.#subscription = subscription;
      try {
        for await (const item of subscription) {
          if (item.kind === 'caught_up') {
            markReady();
            continue;
          }
          from = item.event.position;
          delay = 100;
          this.#dispatch(item.event.streamId, () => toStoredStageLog(item.event));
        }
        if (this.#count === 0) return;
      } catch (error) {
        if (this.#count === 0) return;
        this.logger.error({ err: error, retry_in_ms: delay }, 'log follow: subscription failed, reopening');
      } finally {
        await subscription.close().catch(() => {});
      }
      // Whatever came meanwhile is read from the store by each follower.
      for (const set of this.#followers.values()) for (const f of set) f.push({ kind: 'lost' });
      await sleep(delay);
    }
  }

  #dispatch(streamId: string, read: () => StoredStageLog): void {
    if (!streamId.startsWith(LOG_STREAM_PREFIX)) {
      const set = this.#followers.get(jobIdFromStream(streamId));
      if (set) for (const f of set) f.push({ kind: 'job' });
      return;
    }
    let stored: StoredStageLog;
    try {
      stored = read();
    } catch (error) {
      this.logger.warn({ err: error, stream: streamId }, 'log follow: unreadable log record skipped');
      return;
    }
    const set = this.#followers.get(stored.record.job_id);
    if (!set) return;
    for (const f of set) if (f.stage === stored.record.stage) f.push({ kind: 'log', stored });
  }
}
