import type { EventSourceMessage } from 'eventsource-parser';
import { createParser } from 'eventsource-parser';

export interface RawSse {
  /** What was requested, to repeat the request (e.g. to read an error body). */
  url: string;
  requestHeaders: Record<string, string>;
  status: number;
  headers: Headers;
  messages: EventSourceMessage[];
  retry: number | null;
  /** Resolves when `predicate` holds for the messages received so far. */
  until(predicate: (messages: EventSourceMessage[]) => boolean, timeoutMs?: number): Promise<void>;
  closed: Promise<void>;
  abort(): void;
}

/** Reads an SSE response byte by byte with eventsource-parser: what the server really sent. */
export async function openRawSse(url: string, headers: Record<string, string> = {}): Promise<RawSse> {
  const controller = new AbortController();
  const res = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  const messages: EventSourceMessage[] = [];
  let retry: number | null = null;
  const checks = new Set<() => void>();
  const parser = createParser({
    onEvent: (message) => {
      messages.push(message);
      for (const check of checks) check();
    },
    onRetry: (ms) => {
      retry = ms;
    },
  });
  const closed = (async () => {
    if (!res.body) return;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
    } catch {
      // aborted or cut by the server
    }
    for (const check of checks) check();
  })();
  let done = false;
  void closed.then(() => {
    done = true;
  });
  return {
    url,
    requestHeaders: { accept: 'text/event-stream', ...headers },
    status: res.status,
    headers: res.headers,
    messages,
    get retry() {
      return retry;
    },
    closed,
    abort: () => controller.abort(),
    until: (predicate, timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (predicate(messages)) {
            checks.delete(check);
            clearTimeout(timer);
            resolve();
          } else if (done) {
            checks.delete(check);
            clearTimeout(timer);
            reject(new Error(`stream closed; got ${messages.length} messages`));
          }
        };
        const timer = setTimeout(() => {
          checks.delete(check);
          reject(new Error(`timed out after ${timeoutMs} ms with ${messages.length} messages`));
        }, timeoutMs);
        checks.add(check);
        check();
      }),
  };
}

const CONTROL = new Set(['connected', 'heartbeat', 'end', 'shutdown']);

/** An unnamed heartbeat: no id, `type` (or `event_type`) heartbeat in its JSON. */
export const isHeartbeat = (m: EventSourceMessage): boolean =>
  m.event === 'heartbeat' || (m.id === undefined && /^\{"(type|event_type)":"heartbeat"/.test(m.data));

/** The stored events of a stream: no control frame, no heartbeat (named or not). */
export const eventsOnly = (messages: EventSourceMessage[]) =>
  messages.filter((m) => !(m.event !== undefined && CONTROL.has(m.event)) && !isHeartbeat(m));
