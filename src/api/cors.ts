import type { Context, Next } from 'koa';

const EXPOSED_HEADERS = 'ETag, Location, X-Request-Id';

/** The headers every answer to an allowed origin carries (preflights aside). */
export function corsHeaders(origin: string): Record<string, string> {
  return {
    'Access-Control-Allow-Origin': origin,
    Vary: 'Origin',
    'Access-Control-Expose-Headers': EXPOSED_HEADERS,
  };
}

/** Whether a request's `Origin` is one of the configured origins (or `*` is configured). */
export function corsAllows(allowed: ReadonlySet<string>, origin: string | undefined): origin is string {
  return Boolean(origin) && (allowed.has(origin as string) || allowed.has('*'));
}

/**
 * CORS for the configured origins only (none by default: the bundled UI is same-origin). Preflights are
 * answered here; `Last-Event-ID` is an allowed request header so EventSource can resume cross-origin.
 */
export function corsMiddleware(origins: readonly string[]) {
  const allowed = new Set(origins);
  return async (ctx: Context, next: Next): Promise<void> => {
    const origin = ctx.get('origin');
    if (!corsAllows(allowed, origin)) {
      await next();
      return;
    }
    ctx.set('Access-Control-Allow-Origin', origin);
    ctx.vary('Origin');
    if (ctx.method === 'OPTIONS' && ctx.get('access-control-request-method')) {
      ctx.set('Access-Control-Allow-Methods', 'GET, POST, DELETE, OPTIONS');
      ctx.set('Access-Control-Allow-Headers', 'Authorization, Content-Type, If-Match, Last-Event-ID');
      ctx.set('Access-Control-Max-Age', '600');
      ctx.status = 204;
      return;
    }
    ctx.set('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    await next();
  };
}
