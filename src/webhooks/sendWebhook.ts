import type { IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  ForbiddenTargetError,
  guardedLookup,
  isOwnServer,
  literalAddress,
  targetPort,
} from './targetGuard.ts';

export interface SendOptions {
  timeoutMs: number;
  /** The operator's own HTTP port: requests to it on a local address are refused. */
  ownPort: () => number | null;
  signal?: AbortSignal;
}

export interface AttemptResult {
  /** The HTTP status, null when no answer came (refused, reset, timed out, forbidden target). */
  status_code: number | null;
  latency_ms: number;
  /** Why the attempt failed; null on a 2xx. */
  error: string | null;
  /** The first bytes of the answer's body, for diagnosis. */
  response: string | null;
}

const RESPONSE_SNIPPET = 256;

export const isSuccess = (r: AttemptResult): boolean => r.error === null;

/**
 * One POST of a delivery. Follows no redirect (a 3xx is a failed attempt), gives up after `timeoutMs` for
 * the whole exchange, and refuses to connect to the operator's own port on a local address.
 */
export function sendWebhook(
  url: URL,
  headers: Record<string, string>,
  body: string,
  options: SendOptions,
): Promise<AttemptResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const literal = literalAddress(url);
  const port = targetPort(url);
  if (literal !== null && isOwnServer(literal, port, options.ownPort()))
    return Promise.resolve({
      status_code: null,
      latency_ms: 0,
      error: new ForbiddenTargetError(url.href, literal, port).message,
      response: null,
    });
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: Omit<AttemptResult, 'latency_ms'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...result, latency_ms: elapsed() });
    };
    const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: 'POST',
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      agent: false,
      lookup: guardedLookup(url, options.ownPort) as never,
      signal: options.signal,
    });
    const timer = setTimeout(() => {
      request.destroy(new Error(`timed out after ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    request.on('error', (error: NodeJS.ErrnoException) => {
      const code = error.code && !error.message.includes(error.code) ? `${error.code}: ` : '';
      finish({ status_code: null, error: `${code}${error.message}`, response: null });
    });
    request.on('response', (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      let snippet = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        if (snippet.length < RESPONSE_SNIPPET) snippet += chunk.slice(0, RESPONSE_SNIPPET - snippet.length);
      });
      const done = () => {
        const error =
          status >= 200 && status < 300
            ? null
            : status >= 300 && status < 400
              ? `HTTP ${status}: redirect${response.headers.location ? ` to ${response.headers.location}` : ''} not followed`
              : `HTTP ${status}`;
        finish({ status_code: status, error, response: snippet === '' ? null : snippet });
      };
      response.on('end', done);
      response.on('error', done);
      response.on('close', done);
    });
    request.end(body);
  });
}
