import { randomUUID } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import type { z } from 'zod';
import { ANSWER_HEADERS } from '../answerHeaders.ts';
import type { ApiDeps } from '../apiDeps.ts';
import type { TokenAuthenticator } from '../auth.ts';
import { mayActAs, principalFor, requestToken } from '../auth.ts';
import { corsAllows, corsHeaders } from '../cors.ts';
import { errorAnswer, forbidden, invalidInput } from '../errors.ts';
import { logRequest } from '../requestLog.ts';
import { allStreamQuery, jobIdParams, jobStreamQuery } from '../schemas.ts';
import { TooManyStreamsError } from './sseHub.ts';
import type { StreamOpeners, StreamOutcome } from './streamOpeners.ts';

/** URLs with these characters leave koa's fast URL parser (parseurl): they go to koa as they are. */
const UNUSUAL_URL = /[\t\n\f\r #\u00a0\ufeff]/;

export interface StreamFrontOptions {
  /** The API's path prefix, `/api/v1`. */
  prefix: string;
  auth: TokenAuthenticator;
  openers: StreamOpeners;
}

/**
 * The two event streams served before koa, from the server's `request` listener: a plain `GET` of
 * `<prefix>/jobs/{id}/events/stream` or `<prefix>/events/stream` is authenticated, validated and opened
 * here with what koa's middleware would have done for it — the request id, CORS headers, the Bearer or
 * `?access_token=` token (`auth.ts`), the route's schemas, the stream limits, the one error shape with the
 * kind's status (`errors.ts`), the request's log line with credentials redacted and its duration metric.
 * Once the 200 is out, a connection holds its socket and response, its session and its feed's cursor and
 * filter: no koa context, no listener of koa's, no closure of its own.
 *
 * Anything else (another method, a trailing slash, other letter case, an unusual URL) is not taken and
 * goes to koa unchanged, whose routes serve those forms with the same rules (`StreamOpeners`).
 */
export class StreamFront {
  private readonly origins: ReadonlySet<string>;
  private readonly allPath: string;
  private readonly jobPath: RegExp;
  private readonly jobRoute: string;

  constructor(
    private readonly deps: ApiDeps,
    private readonly options: StreamFrontOptions,
  ) {
    this.origins = new Set(deps.config.server.cors_origins);
    const { prefix } = options;
    this.allPath = `${prefix}/events/stream`;
    this.jobPath = new RegExp(`^${prefix.replace(/[/.]/g, '\\$&')}/jobs/([^/]+)/events/stream$`);
    // The route label koa's router gives the metric (its `_matchedRoute`).
    this.jobRoute = `${prefix}/jobs/:id/events/stream`;
  }

  /** Serves the request when it is a plain GET of an event stream (true); false: leave it to koa. */
  take(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'GET') return false;
    const url = req.url ?? '';
    if (!url.startsWith(this.options.prefix) || UNUSUAL_URL.test(url)) return false;
    const mark = url.indexOf('?');
    const path = mark < 0 ? url : url.slice(0, mark);
    let jobSegment: string | null = null;
    if (path !== this.allPath) {
      const match = this.jobPath.exec(path);
      if (!match) return false;
      jobSegment = match[1] as string;
    }
    void this.serve(req, res, path, mark < 0 ? '' : url.slice(mark + 1), jobSegment);
    return true;
  }

  private async serve(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    search: string,
    jobSegment: string | null,
  ): Promise<void> {
    const started = Date.now();
    const clock = process.hrtime.bigint();
    const requestId = randomUUID();
    const query = parseQuery(search);
    const origin = req.headers.origin;
    const headers: OutgoingHttpHeaders = {
      ...ANSWER_HEADERS,
      'X-Request-Id': requestId,
      ...(corsAllows(this.origins, origin) ? corsHeaders(origin) : {}),
    };
    let status: number;
    try {
      const outcome = await this.open(req, res, query, jobSegment, headers);
      status = outcome === 'streaming' ? 200 : 204;
      if (outcome === 'finished') res.writeHead(204, headers).end();
    } catch (error) {
      status = this.fail(res, error, headers, requestId);
    }
    if (status !== 200) {
      // As koa's metrics middleware: every answer but an open stream is a timed request.
      const route = jobSegment === null ? this.allPath : this.jobRoute;
      const seconds = Number(process.hrtime.bigint() - clock) / 1e9;
      this.deps.metrics.httpDuration.observe({ method: 'GET', route, status: String(status) }, seconds);
    }
    logRequest(this.deps.logger, { method: 'GET', path, query, status, started, requestId });
  }

  /** Authenticates (viewer at least), parses the path then the query, and opens the stream. */
  private open(
    req: IncomingMessage,
    res: ServerResponse,
    query: Record<string, unknown>,
    jobSegment: string | null,
    headers: OutgoingHttpHeaders,
  ): Promise<StreamOutcome> {
    const token = requestToken(headerOf(req, 'authorization'), query.access_token, true);
    const principal = principalFor(this.options.auth, token);
    if (!mayActAs(principal, 'viewer'))
      throw forbidden(`role ${principal.role} may not do this (needs viewer)`);
    const ask = { lastEventId: headerOf(req, 'last-event-id'), owner: principal.name, res, headers };
    const { openers } = this.options;
    if (jobSegment === null)
      return openers.all({ ...ask, query: parse('query', allStreamQuery, { ...query }) });
    const { id } = parse('path', jobIdParams, { id: safeDecode(jobSegment) });
    return openers.job(id, { ...ask, query: parse('query', jobStreamQuery, { ...query }) });
  }

  /** Answers a refusal in the one error shape (as `errorMiddleware` does); returns the status. */
  private fail(res: ServerResponse, error: unknown, headers: OutgoingHttpHeaders, requestId: string): number {
    const { logger } = this.deps;
    if (res.headersSent) {
      logger.warn({ err: error, requestId }, 'error after the response started');
      return res.statusCode;
    }
    const answer = errorAnswer(error, { logger, requestId, method: 'GET' });
    const retryAfter = error instanceof TooManyStreamsError ? error.retryAfterSeconds : undefined;
    const body = JSON.stringify(answer.body);
    res
      .writeHead(answer.status, {
        ...headers,
        ...(retryAfter === undefined ? {} : { 'Retry-After': String(retryAfter) }),
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
      })
      .end(body);
    return answer.status;
  }
}

function parse<S extends z.ZodType>(where: string, schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalidInput(where, result.error);
  return result.data;
}

/** As koa's router decodes a path parameter: the raw text when it is not valid percent-encoding. */
function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** A request header as koa's `ctx.get` reads it: '' when absent. */
function headerOf(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return typeof value === 'string' ? value : '';
}
