import type { IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setLongTimeout } from '../infra/longTimeout.ts';
import type { ErrorClass } from './attemptError.ts';
import { classifyRequestError } from './attemptError.ts';
import type { TargetGuard } from './targetGuard.ts';
import { guardedLookup, TargetDeniedError } from './targetGuard.ts';

export interface SendOptions extends TargetGuard {
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * What an attempt leaves on record: its outcome, never a byte of the answer's body (a webhook that could
 * show what it fetched would be a way to read internal services).
 */
export interface AttemptResult {
  /** The HTTP status, null when no answer came (refused, reset, timed out, target denied). */
  status_code: number | null;
  /** Until the answer's status line and headers. */
  latency_ms: number;
  /** Why the attempt failed; null on a 2xx. */
  error_class: ErrorClass | null;
  /** The same in a short sentence of our own (null on a 2xx). */
  error: string | null;
}

export const isSuccess = (r: AttemptResult): boolean => r.error === null;

function statusOutcome(status: number): Pick<AttemptResult, 'error_class' | 'error'> {
  if (status >= 200 && status < 300) return { error_class: null, error: null };
  if (status >= 300 && status < 400)
    return { error_class: 'redirect', error: `HTTP ${status}: redirect not followed` };
  return { error_class: 'http_status', error: `HTTP ${status}` };
}

/**
 * One POST of a delivery. Follows no redirect (a 3xx is a failed attempt), gives up after `timeoutMs`,
 * connects only to addresses the target guard allows (checked on the literal host, and on every address a
 * name resolves to), and reads nothing of the answer but its status.
 */
export function sendWebhook(
  url: URL,
  headers: Record<string, string>,
  body: string,
  options: SendOptions,
): Promise<AttemptResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const refused = options.policy.urlRefusal(url, options.ownPort());
  if (refused)
    return Promise.resolve({
      status_code: null,
      latency_ms: 0,
      error_class: 'target_denied',
      error: new TargetDeniedError(url, refused).message,
    });
  return new Promise((resolve) => {
    let settled = false;
    let timedOut = false;
    const finish = (result: Omit<AttemptResult, 'latency_ms'>) => {
      if (settled) return;
      settled = true;
      cancelTimeout();
      resolve({ ...result, latency_ms: elapsed() });
    };
    const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: 'POST',
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      agent: false,
      lookup: guardedLookup(url, options) as never,
      signal: options.signal,
    });
    const cancelTimeout = setLongTimeout(() => {
      timedOut = true;
      request.destroy(new Error(`timed out after ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (timedOut)
        finish({
          status_code: null,
          error_class: 'timeout',
          error: `timed out after ${options.timeoutMs} ms`,
        });
      else finish({ status_code: null, ...classifyRequestError(error) });
    });
    request.on('response', (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      finish({ status_code: status, ...statusOutcome(status) });
      // The body is never read: the connection (one per attempt) is closed instead.
      response.destroy();
    });
    request.end(body);
  });
}
