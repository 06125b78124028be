import type { EventSourceMessage } from 'eventsource-parser';
import { createParser } from 'eventsource-parser';
import type { ApiClient } from './apiClient.ts';
import { CliError } from './cliError.ts';

export interface FollowSseOptions {
  api: ApiClient;
  /** API path, e.g. `/events/stream`. */
  path: string;
  query?: Record<string, string | number | undefined>;
  /**
   * Called for each event frame (not `connected`, `end`, `shutdown` or a heartbeat, named or not), one at
   * a time, in order.
   */
  onEvent(message: EventSourceMessage): Promise<void> | void;
  /** After a dropped connection, before the next attempt. */
  onReconnect?(info: { lastEventId: string | undefined; inMs: number; reason: string }): void;
  signal: AbortSignal;
}

export type FollowEnd = 'ended' | 'aborted';

const MAX_RETRY_MS = 30_000;

/**
 * Follows an SSE stream of the API and survives dropped connections: each reconnect sends
 * `Last-Event-ID` = the id of the last event handed to `onEvent` (or, before any, the cursor the server
 * announced in its `connected` frame), so nothing is skipped and nothing repeats. The first connection
 * must succeed (else a `CliError`: server unreachable, token refused); later failures are retried with
 * the server's `retry:` delay, doubled per consecutive failure up to 30 s.
 */
export async function followSse(options: FollowSseOptions): Promise<FollowEnd> {
  const { api, signal } = options;
  let lastEventId: string | undefined;
  let retryMs = 2000;
  let failures = 0;
  let connectedOnce = false;
  for (;;) {
    if (signal.aborted) return 'aborted';
    let reason: string;
    try {
      const outcome = await streamOnce();
      if (outcome !== 'dropped') return outcome;
      reason = 'the server closed the stream';
    } catch (error) {
      if (signal.aborted) return 'aborted';
      if (!connectedOnce || (error instanceof Error && isFatal(error)))
        throw error instanceof CliError ? error : api.networkError(error);
      reason = error instanceof Error ? error.message : String(error);
    }
    const inMs = Math.min(retryMs * 2 ** failures, MAX_RETRY_MS);
    failures++;
    options.onReconnect?.({ lastEventId, inMs, reason });
    await sleep(inMs, signal);
  }

  async function streamOnce(): Promise<FollowEnd | 'dropped'> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    const res = await api.fetch(api.url(options.path, options.query), { headers, signal });
    if (!res.ok) {
      const error = api.httpError(res.status, await res.text());
      // 5xx (e.g. 503 while the server shuts down) is worth a retry once we have been connected.
      throw res.status >= 500 && connectedOnce ? new Error(error.message) : markFatal(error);
    }
    // 204: a finished job with nothing after our resume point; the stream is over, not broken.
    if (res.status === 204) return 'ended';
    if (!res.body) throw new Error('the response has no body');
    connectedOnce = true;
    const queue: EventSourceMessage[] = [];
    let ended = false;
    const parser = createParser({
      onEvent: (message) => queue.push(message),
      onRetry: (ms) => {
        if (ms > 0) retryMs = ms;
      },
    });
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(chunk, { stream: true }));
        while (queue.length > 0) {
          const message = queue.shift() as EventSourceMessage;
          if (message.event === 'connected') {
            failures = 0;
            if (lastEventId === undefined) lastEventId = announcedCursor(message.data);
          } else if (message.event === 'end') {
            ended = true;
          } else if (message.event === 'shutdown') {
            // The server is going away: the stream closes next, and the follow reconnects.
          } else if (message.event !== 'heartbeat' && !isHeartbeat(message)) {
            await options.onEvent(message);
            if (message.id !== undefined) lastEventId = message.id;
            if (signal.aborted) return 'aborted';
          }
        }
        if (ended) return 'ended';
      }
    } catch (error) {
      if (signal.aborted) return 'aborted';
      throw error;
    }
    return signal.aborted ? 'aborted' : 'dropped';
  }
}

/** An unnamed frame without an id whose JSON says it is a heartbeat (either name style). */
function isHeartbeat(message: EventSourceMessage): boolean {
  if (message.id !== undefined || !message.data.includes('heartbeat')) return false;
  try {
    const data = JSON.parse(message.data) as { type?: unknown; event_type?: unknown };
    return data.type === 'heartbeat' || data.event_type === 'heartbeat';
  } catch {
    return false;
  }
}

const fatal = new WeakSet<Error>();
function markFatal(error: CliError): CliError {
  fatal.add(error);
  return error;
}
const isFatal = (error: Error): boolean => fatal.has(error);

/** The `after` of a `connected` frame: where the server started, so a resume before any event loses none. */
function announcedCursor(data: string): string | undefined {
  try {
    const after = (JSON.parse(data) as { after?: unknown }).after;
    return after === undefined || after === null ? undefined : String(after);
  } catch {
    return undefined;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
