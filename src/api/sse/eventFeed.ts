import type { JobStatus } from '../../domain/events.ts';
import { isTerminal } from '../../domain/events.ts';
import type { EventStore } from '../../infra/eventstore/eventStore.ts';
import { toJobEvent } from '../../infra/eventstore/jobEvents.ts';
import { BATCH, readAllAfter, readStreamAfter, statusAt } from './feedReads.ts';
import type { AllFollower, JobFollower, LiveTail } from './liveTail.ts';
import type { SessionFeed, SseSession } from './sseSession.ts';
import { FrameRun } from './sseSession.ts';
import type { WireBatch, WireStyle } from './wireFrames.ts';
import { controlFrame, joinFrames, WireEvent } from './wireFrames.ts';

/** One handler for every feed of the process (no closure per connection). */
export type FeedErrorHandler = (error: unknown, session: SseSession) => void;

export interface AllFeedFilter {
  types?: ReadonlySet<string>;
  jobId?: string;
}

/**
 * One all-jobs stream's cursor: history from the store after `cursor` (exclusive; -1 = from the start), then
 * the ring of the live tail, then the tail's own fan-out loop, which writes the new events' shared chunk (one
 * write however many events a commit or a batch of the log brought) to every follower that keeps up. The
 * feed leaves that loop only while its socket is full (it waits for `drain`, then catches up from the ring
 * and joins again); each event is written once, in position order.
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

  onAnyEvents(batch: WireBatch): void {
    const after = this.cursor;
    if (batch.last.positionValue <= after) return;
    this.cursor = batch.last.positionValue;
    const { types, jobId } = this.filter;
    let written: 'ok' | 'blocked' | 'closed';
    if (!types && !jobId && batch.first.positionValue > after) {
      written = this.session.write(batch.chunk('all', this.style), batch.events.length, true);
    } else {
      const frames: Buffer[] = [];
      for (const wire of batch.events)
        if (wire.positionValue > after && this.matches(wire)) frames.push(wire.frame('all', this.style));
      if (frames.length === 0) return;
      // One frame is the tail's own (shared); several are joined for this session alone.
      written = this.session.write(joinFrames(frames), frames.length, frames.length === 1);
    }
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
        const frames = new FrameRun(session);
        for (const wire of batch) {
          this.cursor = wire.positionValue;
          if (this.matches(wire) && frames.add(wire.frame('all', this.style)) && !(await frames.flush()))
            return;
        }
        if (!(await frames.flush())) return;
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
      const frames = new FrameRun(session);
      for (const recorded of history) {
        const wire = new WireEvent(toJobEvent(recorded));
        this.cursor = wire.positionValue;
        if (this.matches(wire) && frames.add(wire.frame('all', this.style)) && !(await frames.flush()))
          return;
      }
      if (!(await frames.flush())) return;
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

  onJobEvents(batch: WireBatch): void {
    const { events } = batch;
    if (batch.first.event.seq !== this.seq + 1 || !batch.isJobRun) {
      for (const wire of events) if (this.following) this.onJobEvent(wire);
      return;
    }
    this.delivered(batch.last);
    this.wrote(
      this.session.write(batch.chunk('job', this.style), events.length, true),
      batch.last.event.status,
    );
  }

  private onJobEvent(wire: WireEvent): void {
    const seq = wire.event.seq;
    if (seq <= this.seq) return;
    if (seq !== this.seq + 1) {
      // The loop missed something of this job (cannot happen while the tail is whole): read the stream.
      this.stop();
      this.run();
      return;
    }
    this.delivered(wire);
    this.wrote(this.session.write(wire.frame('job', this.style), 1, true), wire.event.status);
  }

  /** After a write from the tail's loop: stay in it, or leave to wait for a drain or to end the stream. */
  private wrote(written: 'ok' | 'blocked' | 'closed', status: JobStatus): void {
    if (written === 'ok' && !isTerminal(status)) return;
    this.stop();
    if (written === 'closed') return;
    if (isTerminal(status)) this.finish();
    else this.session.whenDrained(() => this.run());
  }

  private finish(): void {
    this.session.end(controlFrame('end', { job_id: this.jobId, seq: this.seq }, this.seq));
  }

  /** Moves the resume point past `wire`; its frame is written (or about to be, in a run). */
  private delivered(wire: WireEvent): void {
    this.seq = wire.event.seq;
    this.lastStatus = wire.event.status;
    this.at = wire.positionValue;
  }

  /** Takes `wire` as delivered and adds its frame to `frames`; true when the run is full (flush it). */
  private take(wire: WireEvent, frames: FrameRun): boolean {
    this.delivered(wire);
    return frames.add(wire.frame('job', this.style));
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
        const frames = new FrameRun(session);
        for (const recorded of history) {
          if (this.take(new WireEvent(toJobEvent(recorded)), frames) && !(await frames.flush())) return;
        }
        if (!(await frames.flush())) return;
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
        const frames = new FrameRun(session);
        for (const wire of batch) {
          if (wire.event.job_id !== this.jobId || wire.event.seq <= this.seq) {
            cursor = wire.positionValue;
            continue;
          }
          if (wire.event.seq !== this.seq + 1) {
            gap = true; // the ring does not hold what came before: read the stream again
            break;
          }
          cursor = wire.positionValue;
          if (this.take(wire, frames) && !(await frames.flush())) return;
          if (isTerminal(wire.event.status)) {
            if (await frames.flush()) this.finish();
            return;
          }
        }
        if (!(await frames.flush())) return;
        if (gap) this.at = null;
      }
    }
  }
}
