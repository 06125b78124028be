import type { ServerResponse } from 'node:http';
import type { SseSessionOptions } from './sseSession.ts';
import { SseSession } from './sseSession.ts';

export interface SseHubOptions extends SseSessionOptions {
  heartbeatSeconds: number;
  /** A session waiting for its socket to drain longer than this is cut off. */
  stuckTimeoutSeconds: number;
  onOpen?: () => void;
  onClose?: (session: SseSession) => void;
}

/**
 * Every open SSE session of the process. One heartbeat timer serves all of them (one frame built per tick),
 * and the same tick cuts off sessions stuck on a full socket for too long.
 */
export class SseHub {
  private readonly sessions = new Set<SseSession>();
  private readonly timer: NodeJS.Timeout;
  private closing = false;

  constructor(private readonly options: SseHubOptions) {
    this.timer = setInterval(() => this.tick(), options.heartbeatSeconds * 1000);
    this.timer.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  open(res: ServerResponse): SseSession {
    const session = new SseSession(res, this.options);
    this.sessions.add(session);
    this.options.onOpen?.();
    session.signal.addEventListener('abort', () => {
      this.sessions.delete(session);
      this.options.onClose?.(session);
    });
    return session;
  }

  private tick(): void {
    const frame = Buffer.from(`event: heartbeat\ndata: {"ts":"${new Date().toISOString()}"}\n\n`);
    const stuckBefore = Date.now() - this.options.stuckTimeoutSeconds * 1000;
    for (const session of this.sessions) {
      if (session.blockedSince !== null && session.blockedSince < stuckBefore) {
        session.cutOff('client stopped reading (stuck past the timeout)');
      } else {
        session.heartbeat(frame);
      }
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
    for (const session of this.sessions) session.end('event: shutdown\ndata: {}\n\n');
  }
}
