// Talks to /api/v1 with the signed-in token. The token lives in sessionStorage only: it is sent as a Bearer
// header, and to EventSource (which cannot send headers) as ?access_token= on the stream URL, never in the
// address bar.

const TOKEN_KEY = 'operator.token';
export const API = '/api/v1';

/** An error answer of the API: `message` is the API's own message. */
export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message @param {unknown} [details] */
  constructor(status, code, message, details) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** @type {Set<(error: ApiError) => void>} */
const unauthorizedListeners = new Set();

/** Called whenever the API answers 401: the app goes back to the sign-in form. @param {(e: ApiError) => void} fn */
export function onUnauthorized(fn) {
  unauthorizedListeners.add(fn);
}

/**
 * What a token can hold, as the server's config requires (`src/infra/config/authConfig.ts`): printable ASCII
 * without spaces. A browser's fetch throws on a header with a character beyond Latin-1, before any request.
 */
const TOKEN_CHARACTERS = /^[\x21-\x7e]+$/;
const TOKEN_CHARACTERS_RULE = 'printable ASCII without spaces: letters, digits and ! to ~';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  /** @param {string} value */
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/**
 * @param {string} path under /api/v1
 * @param {{ method?: string, body?: unknown, signal?: AbortSignal, token?: string, headers?: Record<string, string> }} [options]
 * @returns {Promise<any>}
 */
export async function api(path, options = {}) {
  const bearer = options.token ?? token.get();
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json', ...options.headers };
  if (bearer && !TOKEN_CHARACTERS.test(bearer))
    throw new ApiError(
      0,
      'invalid_token',
      `the token has characters a token cannot have (a token is ${TOKEN_CHARACTERS_RULE})`,
    );
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(API + path, {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new ApiError(0, 'network', 'the server cannot be reached');
  }
  const body = await res.json().catch(() => null);
  if (res.ok) return body;
  const error = new ApiError(
    res.status,
    body?.error?.code ?? 'http_error',
    body?.error?.message ?? `HTTP ${res.status} ${res.statusText}`,
    body?.error?.details,
  );
  if (res.status === 401 && options.token === undefined) for (const fn of unauthorizedListeners) fn(error);
  throw error;
}

/** @param {string} path @param {unknown} [body] */
export const post = (path, body = {}) => api(path, { method: 'POST', body });

/** A stream URL with the token as a query parameter, for EventSource. @param {string} path @param {Record<string, string | undefined>} [query] */
export function streamUrl(path, query = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, value);
  params.set('access_token', token.get() ?? '');
  return `${API}${path}?${params}`;
}

export const jobPath = (/** @type {string} */ id) => `/jobs/${encodeURIComponent(id)}`;

/**
 * A live feed's `onFailure`: asks `/me` at most every 5 s, so a revoked token shows the sign-in (through
 * `onUnauthorized`) instead of a feed that keeps retrying.
 */
export function authProbe() {
  let last = 0;
  return () => {
    if (Date.now() - last < 5000) return;
    last = Date.now();
    api('/me').catch(() => {});
  };
}
