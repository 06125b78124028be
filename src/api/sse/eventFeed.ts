import type { JobStatus } from '../../domain/events.ts';
import { isTerminal } from '../../domain/events.ts';
import type { EventStore, RecordedEvent } from '../../infra/eventstore/eventStore.ts';
import { JOB_STREAM_PREFIX, jobStreamName } from '../../infra/eventstore/eventStore.ts';
import { toJobEvent } from '../../infra/eventstore/jobEvents.ts';
import type { AllFollower, JobFollower, LiveTail } from './liveTail.ts';
import { WireEvent } from './liveTail.ts';
import type { SessionFeed, SseSession } from './sseSession.ts';
import type { WireStyle } from './wireFrames.ts';
import { controlFrame } from './wireFrames.ts';

const BATCH = 256;

/** One handler for every feed of the process (no closure per connection). */
export type FeedErrorHandler = (error: unknown, session: SseSession) => void;

export interface AllFeedFilter {
  types?: ReadonlySet<string>;
  jobId?: string;
}

/**
 * One all-jobs stream's cursor: history from the store after `cursor` (exclusive; -1 = from the start), then
 * the ring of the live tail, then the tail's own fan-out loop, which writes each new event's shared frame to
 * every follower that keeps up. The feed leaves that loop only while its socket is full (it waits for
 * `drain`, then catches up from the ring and joins again); each event is written once, in position order.
 * While it follows, a connection holds only this object: its session, its cursor, its filter.
 */
export class AllJobsFeed implements AllFollower, SessionFeed {
  private following = false;

  constructor(
    private readonly store: EventStore,
    private readonly tail: LiveTail,
    private readonly session: SseSession,
    private cursor: bigint,
    private readonly filter: AllFeedFilter,
    private readonly style: WireStyle,
    private readonly onError: FeedErrorHandler,
  ) {
    session.feed = this;
  }

  private matches(wire: WireEvent): boolean {
    const { types, jobId } = this.filter;
    return (!types || types.has(wire.event.type)) && (!jobId || wire.event.job_id === jobId);
  }

  /** Catches up, then joins the tail's loop. */
  run(): void {
    this.catchUp().catch((error: unknown) => this.onError(error, this.session));
  }

  stop(): void {
    if (this.following) this.tail.leaveAll(this);
    this.following = false;
  }

  onAnyEvent(wire: WireEvent): void {
    if (wire.positionValue <= this.cursor) return;
    this.cursor = wire.positionValue;
    if (!this.matches(wire)) return;
    const written = this.session.write(wire.frame('all', this.style));
    if (written === 'ok') return;
    this.stop();
    if (written === 'blocked') this.session.whenDrained(() => this.run());
  }

  private async catchUp(): Promise<void> {
    const { tail, session } = this;
    while (!session.closed && !tail.isStopped) {
      if (tail.covers(this.cursor)) {
        const batch = tail.eventsAfter(this.cursor, BATCH);
        if (batch.length === 0) {
          if (tail.joinAll(this, this.cursor)) {
            this.following = true;
            return;
          }
          // A resume point past the tail's head: wait for the log to reach it.
          await tail.waitBeyond(this.cursor, session.signal);
          continue;
        }
        for (const wire of batch) {
          this.cursor = wire.positionValue;
          if (this.matches(wire) && !(await session.send(wire.frame('all', this.style)))) return;
        }
        continue;
      }
      await tail.ready;
      // Whatever the tail had seen before this read is either in the history read now or does not exist.
      const seen = tail.position();
      const history = await readAllAfter(this.store, this.cursor);
      if (history.length === 0) {
        if (seen !== null && seen > this.cursor) this.cursor = seen;
        if (!tail.covers(this.cursor)) await tail.waitBeyond(this.cursor, session.signal);
        continue;
      }
      for (const recorded of history) {
        const wire = new WireEvent(toJobEvent(recorded));
        this.cursor = wire.positionValue;
        if (this.matches(wire) && !(await session.send(wire.frame('all', this.style)))) return;
      }
    }
  }
}

/**
 * One job stream's cursor: its stream after `seq` (exclusive; -1 = from the start), then the live tail's
 * ring, then the tail's fan-out loop for that job (as `AllJobsFeed`). Ends the session with `end` after the
 * job reaches a terminal state and nothing follows it.
 */
export class JobStreamFeed implements JobFollower, SessionFeed {
  private following = false;
  private lastStatus: JobStatus | null = null;
  /** The position of the last event delivered, while the ring still holds what follows it (else null). */
  private at: bigint | null = null;

  constructor(
    private readonly store: EventStore,
    private readonly tail: LiveTail,
    private readonly session: SseSession,
    readonly jobId: string,
    private seq: number,
    private readonly style: WireStyle,
    private readonly onError: FeedErrorHandler,
  ) {
    session.feed = this;
  }

  /** Reads the status at the resume point, catches up, then joins the tail's loop. */
  start(): void {
    this.begin().catch((error: unknown) => this.onError(error, this.session));
  }

  private async begin(): Promise<void> {
    if (this.seq >= 0) this.lastStatus = await statusAt(this.store, this.jobId, this.seq);
    await this.catchUp();
  }

  private run(): void {
    this.catchUp().catch((error: unknown) => this.onError(error, this.session));
  }

  stop(): void {
    if (this.following) this.tail.leaveJob(this.jobId, this);
    this.following = false;
  }

  onJobEvent(wire: WireEvent): void {
    const seq = wire.event.seq;
    if (seq <= this.seq) return;
    if (seq !== this.seq + 1) {
      // The loop missed something of this job (cannot happen while the tail is whole): read the stream.
      this.stop();
      this.run();
      return;
    }
    this.seq = seq;
    this.lastStatus = wire.event.status;
    this.at = wire.positionValue;
    const written = this.session.write(wire.frame('job', this.style));
    if (written === 'ok' && !isTerminal(wire.event.status)) return;
    this.stop();
    if (written === 'closed') return;
    if (isTerminal(wire.event.status)) this.finish();
    else this.session.whenDrained(() => this.run());
  }

  private finish(): void {
    this.session.end(controlFrame('end', { job_id: this.jobId, seq: this.seq }, this.seq));
  }

  private async send(wire: WireEvent): Promise<boolean> {
    this.seq = wire.event.seq;
    this.lastStatus = wire.event.status;
    this.at = wire.positionValue;
    return this.session.send(wire.frame('job', this.style));
  }

  private async catchUp(): Promise<void> {
    const { tail, session } = this;
    while (!session.closed && !tail.isStopped) {
      let cursor: bigint;
      if (this.at !== null && tail.covers(this.at)) {
        // Back from a drain: the ring still holds every event after the last one delivered.
        cursor = this.at;
      } else {
        await tail.ready;
        // Every event of this job up to `seen` is delivered once the stream has been read to its end.
        const seen = tail.position();
        const history = await readStreamAfter(this.store, this.jobId, this.seq);
        for (const recorded of history) {
          if (!(await this.send(new WireEvent(toJobEvent(recorded))))) return;
        }
        this.at = null;
        if (history.length === BATCH) continue;
        if (this.lastStatus && isTerminal(this.lastStatus)) {
          this.finish();
          return;
        }
        if (seen === null || !tail.covers(seen)) continue;
        cursor = seen;
      }
      let gap = false;
      while (!session.closed && !gap && tail.covers(cursor)) {
        const batch = tail.eventsAfter(cursor, BATCH);
        if (batch.length === 0) {
          if (tail.joinJob(this.jobId, this, cursor)) {
            this.following = true;
            return;
          }
          if (tail.isStopped) return;
          await tail.waitBeyond(cursor, session.signal);
          continue;
        }
        for (const wire of batch) {
          if (wire.event.job_id !== this.jobId || wire.event.seq <= this.seq) {
            cursor = wire.positionValue;
            continue;
          }
          if (wire.event.seq !== this.seq + 1) {
            gap = true; // the ring does not hold what came before: read the stream again
            this.at = null;
            break;
          }
          cursor = wire.positionValue;
          if (!(await this.send(wire))) return;
          if (isTerminal(wire.event.status)) {
            this.finish();
            return;
          }
        }
      }
    }
  }
}

async function statusAt(store: EventStore, jobId: string, seq: number): Promise<JobStatus | null> {
  for await (const recorded of store.readStream(jobStreamName(jobId), { fromRevision: seq, maxCount: 1 })) {
    return toJobEvent(recorded).status;
  }
  return null;
}

async function readAllAfter(store: EventStore, cursor: bigint): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  const fromPosition = cursor < 0n ? 'start' : cursor.toString();
  for await (const recorded of store.readAll({
    fromPosition,
    maxCount: BATCH + 1,
    filter: { streamNamePrefix: [JOB_STREAM_PREFIX] },
  })) {
    if (BigInt(recorded.position) > cursor) out.push(recorded);
  }
  return out.slice(0, BATCH);
}

async function readStreamAfter(store: EventStore, jobId: string, seq: number): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const recorded of store.readStream(jobStreamName(jobId), {
    fromRevision: seq + 1,
    maxCount: BATCH,
  })) {
    out.push(recorded);
  }
  return out;
}
