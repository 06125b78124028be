import type { JobEvent, NameStyle } from '../../domain/events.ts';
import { isTerminal, renderEventJson, toCanonicalJson } from '../../domain/events.ts';

/**
 * How a client wants its frames. By default each event is `id:` + `data:` only, so `EventSource.onmessage`
 * (and any client that reads `data:` lines) gets every event, its `type` inside the JSON; `named` adds the
 * `event: <type>` line for clients that prefer `addEventListener(type)` (`frames=named`). `names: 'alias'`
 * renders the JSON with the seed's names (`names=alias`).
 */
export interface WireStyle {
  names: NameStyle;
  named: boolean;
}

export const DEFAULT_WIRE_STYLE: WireStyle = { names: 'canonical', named: false };

const STYLES: readonly WireStyle[] = [
  DEFAULT_WIRE_STYLE,
  { names: 'canonical', named: true },
  { names: 'alias', named: false },
  { names: 'alias', named: true },
];

export function wireStyle(query: {
  names?: NameStyle | undefined;
  frames?: 'data' | 'named' | undefined;
}): WireStyle {
  // One shared object per style: a connection holds a reference, not its own copy.
  const names = query.names ?? 'canonical';
  const named = query.frames === 'named';
  return STYLES.find((s) => s.names === names && s.named === named) ?? { names, named };
}

/** One event frame: `id:`, the optional `event:` line, the event JSON in the reader's names. */
export function eventFrame(
  id: string | number,
  type: string,
  canonicalJson: string,
  style: WireStyle,
): string {
  const event = style.named ? `event: ${type}\n` : '';
  return `id: ${id}\n${event}data: ${renderEventJson(canonicalJson, style.names)}\n\n`;
}

/**
 * A heartbeat: an event of the wire only (never stored), without `id:` so it never moves a client's resume
 * point. `job_id` is the stream's job, null on the all-jobs stream.
 */
export function heartbeatFrame(ts: string, jobId: string | null, style: WireStyle): string {
  const json = `{"type":"heartbeat","ts":${JSON.stringify(ts)},"job_id":${JSON.stringify(jobId)}}`;
  const event = style.named ? 'event: heartbeat\n' : '';
  return `${event}data: ${renderEventJson(json, style.names)}\n\n`;
}

/**
 * A control frame (`connected`, `end`, `shutdown`): always named, so `onmessage` clients see only events and
 * heartbeats. `end` carries the job's last seq as its `id:`, so a browser that reconnects after it sends
 * `Last-Event-ID` = that seq and gets `204 No Content`, which stops it.
 */
export function controlFrame(
  event: 'connected' | 'end' | 'shutdown',
  data: unknown,
  id?: string | number,
): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Frames as one chunk (the frame itself when there is one). */
export function joinFrames(frames: readonly Buffer[]): Buffer {
  return frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames);
}

/** Where a frame of `scope` in `style` is kept: scope (job / all) x names (canonical / alias) x named (no / yes). */
function frameSlot(scope: 'job' | 'all', style: WireStyle): number {
  return (scope === 'job' ? 0 : 4) + (style.names === 'alias' ? 2 : 0) + (style.named ? 1 : 0);
}

/**
 * An event as the SSE layer holds it: serialised once, each of its frames built once (on first use) and
 * shared by every client that reads the same scope in the same style.
 */
export class WireEvent {
  readonly json: string;
  readonly positionValue: bigint;
  private readonly frames: (Buffer | undefined)[] = [];

  constructor(readonly event: JobEvent) {
    this.json = toCanonicalJson(event);
    this.positionValue = BigInt(event.position);
  }

  /** The frame of a per-job stream (`id:` = seq) or of the all-jobs stream (`id:` = global position). */
  frame(scope: 'job' | 'all', style: WireStyle): Buffer {
    const slot = frameSlot(scope, style);
    let frame = this.frames[slot];
    if (!frame) {
      const id = scope === 'job' ? this.event.seq : this.event.position;
      frame = Buffer.from(eventFrame(id, this.event.type, this.json, style));
      this.frames[slot] = frame;
    }
    return frame;
  }
}

/**
 * New events that reach the followers of one scope together (a group commit, a batch of the log): their
 * frames joined into one chunk per style, built on first use and shared by every follower, so a session
 * that keeps up gets one write however many events came.
 */
export class WireBatch {
  private readonly chunks: (Buffer | undefined)[] = [];
  private run: boolean | undefined;

  /** `events`: at least one, in log order. */
  constructor(readonly events: readonly WireEvent[]) {}

  get first(): WireEvent {
    return this.events[0] as WireEvent;
  }

  get last(): WireEvent {
    return this.events[this.events.length - 1] as WireEvent;
  }

  /** The frames of every event of the batch, in order, as one buffer. */
  chunk(scope: 'job' | 'all', style: WireStyle): Buffer {
    if (this.events.length === 1) return this.first.frame(scope, style);
    const slot = frameSlot(scope, style);
    let chunk = this.chunks[slot];
    if (!chunk) {
      chunk = joinFrames(this.events.map((wire) => wire.frame(scope, style)));
      this.chunks[slot] = chunk;
    }
    return chunk;
  }

  /**
   * True when the events are one job's consecutive seqs and none before the last is terminal: a job stream
   * at the seq before the first takes them all as one chunk.
   */
  get isJobRun(): boolean {
    if (this.run === undefined) {
      const { events } = this;
      let run = true;
      for (let i = 1; i < events.length && run; i++) {
        const before = (events[i - 1] as WireEvent).event;
        const event = (events[i] as WireEvent).event;
        run = event.job_id === before.job_id && event.seq === before.seq + 1 && !isTerminal(before.status);
      }
      this.run = run;
    }
    return this.run;
  }
}
