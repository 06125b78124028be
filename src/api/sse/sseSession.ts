import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ANSWER_HEADERS, STREAM_CACHE_CONTROL } from '../answerHeaders.ts';
import type { WireStyle } from './wireFrames.ts';
import { controlFrame, joinFrames } from './wireFrames.ts';

export interface SseSessionOptions {
  /** Bytes the socket may hold unsent before the client counts as stuck and is cut off. */
  maxBufferedBytes: number;
  /** Told how many frames each write carried (metrics); heartbeats are not counted. */
  onFramesSent?: (frames: number) => void;
}

/** What one session's heartbeats look like: the stream's job (null: every job) in the client's style. */
export interface HeartbeatSpec {
  jobId: string | null;
  style: WireStyle;
}

/** Told once when a session closes, however it closes (the hub frees its slot, a feed leaves the tail). */
export interface SessionCloseListener {
  sessionClosed(session: SseSession): void;
}

/** What follows the session's events (a feed cursor): told when the session closes. */
export interface SessionFeed {
  stop(): void;
}

const SSE_HEADERS: OutgoingHttpHeaders = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  ...ANSWER_HEADERS,
  'Cache-Control': STREAM_CACHE_CONTROL,
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
};

const SESSION = Symbol('sseSession');
type WithSession = ServerResponse & { [SESSION]?: SseSession };
type SocketWithSession = Socket & { [SESSION]?: SseSession };

/** One shared listener for every response: no closure per connection. */
function onResponseClose(this: WithSession): void {
  this[SESSION]?.markClosed('client closed');
}
function onResponseDrain(this: WithSession): void {
  this[SESSION]?.drainedNow();
}
function onSocketDrain(this: SocketWithSession): void {
  this[SESSION]?.drainedNow();
}

/**
 * A shared frame (or run of frames) as one HTTP/1.1 chunk: size line, bytes, CRLF. Made once per frame and
 * kept as long as the frame is (the live tail's ring holds both), so that the fan-out writes every session
 * the same ready buffer straight to its socket: one `socket.write` per session, where `res.write` builds the
 * size line, corks, writes three pieces and uncorks for each. See bench/HISTORY.md ("Raw chunks").
 */
const CHUNKED = new WeakMap<Buffer, Buffer>();
const CRLF = Buffer.from('\r\n');

function asChunk(frame: Buffer): Buffer {
  let chunk = CHUNKED.get(frame);
  if (chunk === undefined) {
    chunk = Buffer.concat([Buffer.from(`${frame.length.toString(16)}\r\n`), frame, CRLF]);
    CHUNKED.set(frame, chunk);
  }
  return chunk;
}

/**
 * One SSE response. Frames are written as they come; a writer that sees `write()` return false stops and
 * waits for `drain` (`whenDrained`) before it writes again. A client that stops reading is cut off (by the
 * buffer bound here, or by the hub's stuck timer) and can resume with `Last-Event-ID`.
 *
 * An idle session holds its response, its options and its feed: no AbortController (one is made only when
 * someone asks for `signal`, as log follows do) and no closure per connection.
 */
export class SseSession {
  private abort: AbortController | null = null;
  private isClosed = false;
  /** When the session started waiting for a drain, or null when it is not waiting. */
  blockedSince: number | null = null;
  closeReason: string | null = null;
  /** The feed writing to this session; stopped when the session closes. */
  feed: SessionFeed | null = null;
  private onDrain: (() => void) | null = null;

  constructor(
    readonly res: ServerResponse,
    private readonly options: SseSessionOptions,
    /** Whose stream this is (a token name), for the per-token stream limit. */
    readonly owner: string,
    readonly heartbeatSpec: HeartbeatSpec,
    private readonly closeListener: SessionCloseListener | null = null,
  ) {
    (res as WithSession)[SESSION] = this;
    res.once('close', onResponseClose);
    // A client that left while its stream was being opened (its head read from the store, say): the
    // response's 'close' has fired already and will not again, so the session starts closed.
    if (res.destroyed) this.markClosed('client closed');
  }

  /** Sessions whose heartbeats are the same bytes share one frame per tick. */
  get heartbeatKey(): string {
    const { jobId, style } = this.heartbeatSpec;
    return `${style.names}|${style.named ? 1 : 0}|${jobId ?? ''}`;
  }

  /** Aborts when the session closes; made on first use. */
  get signal(): AbortSignal {
    if (!this.abort) {
      this.abort = new AbortController();
      if (this.isClosed) this.abort.abort();
    }
    return this.abort.signal;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Sends the 200 with the SSE headers (and `headers`, e.g. a request id and CORS headers, when they are not
   * set on the response already), the `retry:` advice and the `connected` frame.
   */
  open(retryMs: number, connected: unknown, headers?: OutgoingHttpHeaders): void {
    if (this.isClosed) return;
    this.res.writeHead(200, headers ? { ...headers, ...SSE_HEADERS } : SSE_HEADERS);
    if (this.res.req.method === 'HEAD') {
      // The head and nothing else: a body would be dropped, and the request must not hold a stream's slot.
      this.end();
      return;
    }
    this.res.socket?.setNoDelay(true);
    this.res.write(`retry: ${retryMs}\n\n${controlFrame('connected', connected)}`);
  }

  /**
   * Writes a chunk (one frame, or `frames` frames joined) without waiting: 'ok', 'blocked' (written, but the
   * socket is full: wait for `whenDrained` before the next) or 'closed' (not written). `shared`: the same
   * buffer goes to many sessions (the live tail's frames), so it is worth framing once as an HTTP chunk.
   */
  write(chunk: Buffer | string, frames = 1, shared = false): 'ok' | 'blocked' | 'closed' {
    if (this.isClosed) return 'closed';
    const { res, options } = this;
    // Writers wait for drains, so anything still queued here is heartbeats and frames the client never took.
    if (res.writableLength > options.maxBufferedBytes) {
      this.cutOff('client stopped reading (send buffer over its bound)');
      return 'closed';
    }
    const flushed = shared && typeof chunk !== 'string' ? this.putShared(chunk) : res.write(chunk);
    options.onFramesSent?.(frames);
    return flushed ? 'ok' : 'blocked';
  }

  /**
   * Writes a shared buffer: straight to the socket as a ready chunk when the response holds the socket, its
   * head is sent, it has a body (not the answer to a HEAD, whose body `res.write` drops) and nothing of it
   * waits in the response (so the bytes stay in order with all it wrote); else through `res.write`. Returns
   * what the write returned (false: the socket is full).
   */
  private putShared(chunk: Buffer): boolean {
    const { res } = this;
    const socket = res.socket;
    if (
      socket === null ||
      socket.destroyed ||
      !res.headersSent ||
      res.req.method === 'HEAD' ||
      res.writableLength !== socket.writableLength
    )
      return res.write(chunk);
    return socket.write(res.chunkedEncoding ? asChunk(chunk) : chunk);
  }

  /** Writes a chunk (as `write`), waiting for a drain when the socket is full; resolves false when the session is gone. */
  async send(chunk: Buffer | string, frames = 1, shared = false): Promise<boolean> {
    const written = this.write(chunk, frames, shared);
    if (written === 'closed') return false;
    if (written === 'blocked') await new Promise<void>((resolve) => this.whenDrained(resolve));
    return !this.isClosed;
  }

  /** Calls `then` once the socket drained (or the session closed). One waiter at a time. */
  whenDrained(then: () => void): void {
    if (this.isClosed) {
      then();
      return;
    }
    this.blockedSince = Date.now();
    this.onDrain = then;
    // Writes may have gone straight to the socket, whose 'drain' the response does not pass on.
    const socket = this.res.socket as SocketWithSession | null;
    if (socket) {
      socket[SESSION] = this;
      socket.once('drain', onSocketDrain);
    }
    this.res.once('drain', onResponseDrain);
  }

  /** @internal the response drained */
  drainedNow(): void {
    const then = this.onDrain;
    if (!then) return;
    this.onDrain = null;
    this.blockedSince = null;
    this.res.off('drain', onResponseDrain);
    const socket = this.res.socket as SocketWithSession | null;
    if (socket) {
      socket.off('drain', onSocketDrain);
      socket[SESSION] = undefined;
    }
    then();
  }

  /** Heartbeats skip a session that is already waiting for its socket to drain. */
  heartbeat(frame: Buffer): void {
    if (this.isClosed || this.blockedSince !== null) return;
    this.putShared(frame);
  }

  /** Ends the stream politely, with an optional last frame. */
  end(frame?: string): void {
    if (this.isClosed) return;
    this.markClosed('ended by server');
    this.res.end(frame);
  }

  /** Drops the connection at once (a stuck client); its socket is destroyed. */
  cutOff(reason: string): void {
    if (this.isClosed) return;
    this.markClosed(reason);
    this.res.destroy();
  }

  /** @internal */
  markClosed(reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeReason = reason;
    (this.res as WithSession)[SESSION] = undefined;
    this.feed?.stop();
    this.closeListener?.sessionClosed(this);
    this.abort?.abort();
    // A writer waiting for a drain learns the session is gone.
    this.drainedNow();
  }
}

/**
 * Frames a catch-up gathers into one write: `add` says when they reach about a socket's high-water mark
 * (then `flush`), so a session holds no more unsent than it would frame by frame, in far fewer writes.
 */
export class FrameRun {
  private frames: Buffer[] = [];
  private bytes = 0;

  constructor(
    private readonly session: SseSession,
    private readonly limit = 16_384,
  ) {}

  /** Adds a frame; true when the run is full and should be flushed. */
  add(frame: Buffer): boolean {
    this.frames.push(frame);
    this.bytes += frame.length;
    return this.bytes >= this.limit;
  }

  /** Writes the frames gathered (if any) as `send` does; resolves false when the session is gone. */
  async flush(): Promise<boolean> {
    const { frames } = this;
    if (frames.length === 0) return !this.session.closed;
    this.frames = [];
    this.bytes = 0;
    return this.session.send(joinFrames(frames), frames.length);
  }
}
