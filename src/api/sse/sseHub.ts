import type { ServerResponse } from 'node:http';
import { HttpError } from '../errors.ts';
import type { HeartbeatSpec, SessionCloseListener, SseSessionOptions } from './sseSession.ts';
import { SseSession } from './sseSession.ts';
import { controlFrame, heartbeatFrame } from './wireFrames.ts';

/** The live-stream limits (`streaming.max_streams_per_token`, `streaming.max_streams`). */
export interface StreamLimits {
  perOwner: number;
  total: number;
  /** Seconds a refused client is told to wait (`Retry-After`). */
  retryAfterSeconds: number;
}

/** Over a live-stream limit: 429 with the error shape; the route sets `Retry-After`. */
export class TooManyStreamsError extends HttpError {
  constructor(
    message: string,
    details: unknown,
    readonly retryAfterSeconds: number,
  ) {
    super('too_many_streams', message, 'rate_limited', details);
  }
}

export interface OpenStreamOptions {
  /** Whose stream it is: the token's name. */
  owner: string;
  heartbeat: HeartbeatSpec;
  limits: StreamLimits;
}

export interface SseHubOptions extends SseSessionOptions {
  heartbeatSeconds: number;
  /** A session waiting for its socket to drain longer than this is cut off. */
  stuckTimeoutSeconds: number;
  onOpen?: () => void;
  onClose?: (session: SseSession) => void;
}

/**
 * Every open SSE session of the process (event streams and log follows). One heartbeat timer serves all of
 * them (one frame built per tick and heartbeat shape), and the same tick cuts off sessions stuck on a full
 * socket for too long. It also counts sessions per owner, so a token cannot hold more than its share.
 */
export class SseHub implements SessionCloseListener {
  private readonly sessions = new Set<SseSession>();
  /** Also told of every closed session (the bench's records). */
  private readonly closeListeners: ((session: SseSession) => void)[] = [];
  private readonly perOwner = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private closing = false;
  /** What every session is given: the buffer bound, and frame counts summed here. */
  private readonly sessionOptions: SseSessionOptions;
  /** Frames written since the counts were last passed on (once per turn, not per write). */
  private framesUncounted = 0;

  constructor(private readonly options: SseHubOptions) {
    this.timer = setInterval(() => this.tick(), options.heartbeatSeconds * 1000);
    this.timer.unref();
    const { onFramesSent } = options;
    const passOn = () => {
      const frames = this.framesUncounted;
      this.framesUncounted = 0;
      onFramesSent?.(frames);
    };
    this.sessionOptions = {
      maxBufferedBytes: options.maxBufferedBytes,
      onFramesSent: (frames) => {
        if (this.framesUncounted === 0) queueMicrotask(passOn);
        this.framesUncounted += frames;
      },
    };
  }

  get size(): number {
    return this.sessions.size;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** Live sessions of one owner (a token name). */
  countOf(owner: string): number {
    return this.perOwner.get(owner) ?? 0;
  }

  /**
   * Registers a new stream, or refuses it (`TooManyStreamsError`) when its owner or the process is at its
   * limit. Call it before anything is written: a refused request still answers with the error shape. The
   * slot is freed when the session closes, however it closes.
   */
  open(res: ServerResponse, options: OpenStreamOptions): SseSession {
    const { owner, limits } = options;
    const mine = this.countOf(owner);
    if (mine >= limits.perOwner)
      throw new TooManyStreamsError(
        `this token has ${mine} live streams open, the most it may hold (streaming.max_streams_per_token); close one first`,
        { open: mine, limit: limits.perOwner, scope: 'token' },
        limits.retryAfterSeconds,
      );
    if (this.sessions.size >= limits.total)
      throw new TooManyStreamsError(
        `the server holds ${this.sessions.size} live streams, the most it serves (streaming.max_streams); try again later`,
        { open: this.sessions.size, limit: limits.total, scope: 'server' },
        limits.retryAfterSeconds,
      );
    const session = new SseSession(res, this.sessionOptions, owner, options.heartbeat, this);
    // Its client is gone already: it takes no slot (nothing would ever free it) and its feed ends at once.
    if (session.closed) return session;
    this.sessions.add(session);
    this.perOwner.set(owner, mine + 1);
    this.options.onOpen?.();
    return session;
  }

  /** Frees a closed session's slot (one method for every session: no closure per connection). */
  sessionClosed(session: SseSession): void {
    if (!this.sessions.delete(session)) return;
    const left = this.countOf(session.owner) - 1;
    if (left > 0) this.perOwner.set(session.owner, left);
    else this.perOwner.delete(session.owner);
    this.options.onClose?.(session);
    for (const listener of this.closeListeners) listener(session);
  }

  /** Adds a listener told of every session that closes. */
  onSessionClosed(listener: (session: SseSession) => void): void {
    this.closeListeners.push(listener);
  }

  private tick(): void {
    const ts = new Date().toISOString();
    const frames = new Map<string, Buffer>();
    const stuckBefore = Date.now() - this.options.stuckTimeoutSeconds * 1000;
    for (const session of this.sessions) {
      if (session.blockedSince !== null && session.blockedSince < stuckBefore) {
        session.cutOff('client stopped reading (stuck past the timeout)');
        continue;
      }
      const key = session.heartbeatKey;
      let frame = frames.get(key);
      if (!frame) {
        const { jobId, style } = session.heartbeatSpec;
        frame = Buffer.from(heartbeatFrame(ts, jobId, style));
        frames.set(key, frame);
      }
      session.heartbeat(frame);
    }
  }

  /** Drops every connection without a goodbye, as a network cut would; clients resume with Last-Event-ID. */
  disconnectAll(reason: string): void {
    for (const session of this.sessions) session.cutOff(reason);
  }

  /** Ends every stream (shutdown). */
  closeAll(): void {
    this.closing = true;
    clearInterval(this.timer);
    for (const session of this.sessions) session.end(controlFrame('shutdown', {}));
  }
}
