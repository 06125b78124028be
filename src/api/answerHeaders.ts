import type { Context, Next } from 'koa';

/**
 * Headers on every answer of the server: the API's JSON, its `text/plain` stage logs (which hold whatever a
 * stage printed, HTML included), its event streams, its errors, and the page. `nosniff` keeps a browser from
 * reading an answer as another type than it says; `no-store` keeps jobs, logs and actors out of every cache
 * (the UI's files revalidate instead, `no-cache`, in `staticUi.ts`); `no-referrer` sends no address of this
 * server with a link a page or a log points to.
 */
export const ANSWER_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
} as const;

/** An event stream's `Cache-Control`: stored by nothing, and never transformed (compressed, buffered) on the way. */
export const STREAM_CACHE_CONTROL = 'no-store, no-transform';

/** Sets `ANSWER_HEADERS` before anything answers, so an error answer carries them too. */
export function answerHeaders() {
  return async (ctx: Context, next: Next): Promise<void> => {
    ctx.set(ANSWER_HEADERS);
    await next();
  };
}

/** The same headers as raw HTTP header lines, for the answers written on the socket (`clientErrors.ts`). */
export function answerHeaderLines(): string {
  return Object.entries(ANSWER_HEADERS)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
}
