import type { ServerResponse } from 'node:http';
import type { WireStyle } from './wireFrames.ts';
import { controlFrame } from './wireFrames.ts';

export interface SseSessionOptions {
  /** Bytes the socket may hold unsent before the client counts as stuck and is cut off. */
  maxBufferedBytes: number;
  /** Told each frame `send` wrote (metrics); heartbeats are not counted. */
  onFrameSent?: () => void;
}

/** What one session's heartbeats look like: the stream's job (null: every job) in the client's style. */
export interface HeartbeatSpec {
  jobId: string | null;
  style: WireStyle;
}

/**
 * One SSE response. Writes are pulled: `send` resolves only once the socket can take more, so the feed
 * behind it reads its next event only after the previous one drained. A client that stops reading is cut
 * off (by the buffer bound here, or by the hub's stuck timer) and can resume with `Last-Event-ID`.
 */
export class SseSession {
  private readonly abort = new AbortController();
  /** When the session started waiting for a drain, or null when it is not waiting. */
  blockedSince: number | null = null;
  closeReason: string | null = null;

  constructor(
    private readonly res: ServerResponse,
    private readonly options: SseSessionOptions,
    /** Whose stream this is (a token name), for the per-token stream limit. */
    readonly owner: string,
    readonly heartbeatSpec: HeartbeatSpec,
  ) {
    res.once('close', () => this.markClosed('client closed'));
  }

  /** Sessions whose heartbeats are the same bytes share one frame per tick. */
  get heartbeatKey(): string {
    const { jobId, style } = this.heartbeatSpec;
    return `${style.names}|${style.named ? 1 : 0}|${jobId ?? ''}`;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get closed(): boolean {
    return this.abort.signal.aborted;
  }

  open(retryMs: number, connected: unknown): void {
    this.res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    this.res.socket?.setNoDelay(true);
    this.res.write(`retry: ${retryMs}\n\n${controlFrame('connected', connected)}`);
  }

  /** Writes one frame; resolves false when the session is gone. */
  async send(frame: Buffer | string): Promise<boolean> {
    if (this.closed) return false;
    // Sends wait for drains, so anything still queued here is heartbeats and frames the client never took.
    if (this.res.writableLength > this.options.maxBufferedBytes) {
      this.cutOff('client stopped reading (send buffer over its bound)');
      return false;
    }
    const flushed = this.res.write(frame);
    this.options.onFrameSent?.();
    if (!flushed) await this.drained();
    return !this.closed;
  }

  /** Heartbeats skip a session that is already waiting for its socket to drain. */
  heartbeat(frame: Buffer): void {
    if (this.closed || this.blockedSince !== null) return;
    this.res.write(frame);
  }

  private drained(): Promise<void> {
    this.blockedSince = Date.now();
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.abort.signal.removeEventListener('abort', done);
        this.blockedSince = null;
        resolve();
      };
      this.res.on('drain', done);
      this.abort.signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Ends the stream politely, with an optional last frame. */
  end(frame?: string): void {
    if (this.closed) return;
    this.markClosed('ended by server');
    this.res.end(frame);
  }

  /** Drops the connection at once (a stuck client); its socket is destroyed. */
  cutOff(reason: string): void {
    if (this.closed) return;
    this.markClosed(reason);
    this.res.destroy();
  }

  private markClosed(reason: string): void {
    if (this.closed) return;
    this.closeReason = reason;
    this.abort.abort();
  }
}
