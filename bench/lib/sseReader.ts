import { request } from 'node:http';

export interface SseReadResult {
  status: number;
  events: number;
  lastId: string | null;
  ended: boolean;
  firstByteMs: number;
  lastEventMs: number;
  totalMs: number;
}

/**
 * Reads one SSE response until `event: end`, `stopAfter` events, or `timeoutMs`; counts event frames and
 * times the first byte, the last event and the end.
 */
export function readSse(
  url: string,
  headers: Record<string, string>,
  options: { stopAfter?: number; timeoutMs?: number } = {},
): Promise<SseReadResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const result: SseReadResult = {
      status: 0,
      events: 0,
      lastId: null,
      ended: false,
      firstByteMs: Number.NaN,
      lastEventMs: Number.NaN,
      totalMs: Number.NaN,
    };
    const req = request(url, { agent: false, headers: { accept: 'text/event-stream', ...headers } });
    const finish = () => {
      clearTimeout(timer);
      result.totalMs = performance.now() - started;
      req.destroy();
      resolve(result);
    };
    const timer = setTimeout(finish, options.timeoutMs ?? 60_000);
    req.on('error', (e) => {
      clearTimeout(timer);
      if (result.ended || result.events > 0) finish();
      else reject(e);
    });
    req.on('response', (res) => {
      result.status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      let rest = '';
      res.on('data', (chunk: string) => {
        if (Number.isNaN(result.firstByteMs)) result.firstByteMs = performance.now() - started;
        const text = rest + chunk;
        let start = 0;
        for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n', start)) {
          const frame = text.slice(start, end);
          start = end + 2;
          // A named control frame (`end` carries the job's last seq as its id) is not an event; a heartbeat
          // has no id.
          const named = /^event: (.*)$/m.exec(frame)?.[1];
          if (named === 'end') {
            result.ended = true;
            return finish();
          }
          const id = /^id: (.*)$/m.exec(frame)?.[1];
          if (id !== undefined && named === undefined) {
            result.events++;
            result.lastId = id;
            result.lastEventMs = performance.now() - started;
            if (options.stopAfter !== undefined && result.events >= options.stopAfter) return finish();
          }
        }
        rest = text.slice(start);
      });
      res.on('end', finish);
    });
    req.end();
  });
}
