import type { RequestListener } from 'node:http';
import Router from '@koa/router';
import type { Context } from 'koa';
import Koa from 'koa';
import type { z } from 'zod';
import { answerHeaders } from './answerHeaders.ts';
import type { ApiDeps } from './apiDeps.ts';
import { authMiddleware, requireRole, TokenAuthenticator } from './auth.ts';
import { readJsonBody } from './body.ts';
import { corsMiddleware } from './cors.ts';
import { errorMiddleware, invalidInput } from './errors.ts';
import { buildOpenApi } from './openapi.ts';
import { logRequest } from './requestLog.ts';
import type { AnyRoute } from './route.ts';
import { jobRoutes } from './routes/jobRoutes.ts';
import { jobStateRoutes } from './routes/jobStateRoutes.ts';
import { logRoutes } from './routes/logRoutes.ts';
import { meRoutes } from './routes/meRoutes.ts';
import { opsRoutes } from './routes/opsRoutes.ts';
import { pipelineRoutes } from './routes/pipelineRoutes.ts';
import { pollingRoutes } from './routes/pollingRoutes.ts';
import { streamRoutes } from './routes/streamRoutes.ts';
import { systemRoutes } from './routes/systemRoutes.ts';
import { StreamFront } from './sse/streamFront.ts';
import { StreamOpeners } from './sse/streamOpeners.ts';
import { staticUi } from './staticUi.ts';

export const API_PREFIX = '/api/v1';

function parse<S extends z.ZodType>(
  where: string,
  schema: S | undefined,
  value: unknown,
): z.output<S> | undefined {
  if (!schema) return undefined;
  const result = schema.safeParse(value);
  if (!result.success) throw invalidInput(where, result.error);
  return result.data;
}

/** Builds the koa app: one error shape, CORS, auth, then every route of the table with its schemas. */
export function createApp(deps: ApiDeps, extraRoutes: (deps: ApiDeps) => AnyRoute[] = () => []): Koa {
  const app = new Koa();
  app.proxy = false;
  // Clients that drop a connection (an SSE tab closed, a keep-alive reset) are not server faults.
  app.on('error', (error: NodeJS.ErrnoException) => {
    const dropped =
      error.code === 'ECONNRESET' || error.code === 'EPIPE' || error.code === 'ERR_STREAM_PREMATURE_CLOSE';
    deps.logger[dropped ? 'debug' : 'error']({ err: error }, 'connection error');
  });
  const auth = new TokenAuthenticator(deps.config.auth.tokens);
  const router = new Router({ prefix: API_PREFIX });
  const routes: AnyRoute[] = [];
  let openapi: unknown;
  const openapiDoc = () => {
    openapi ??= buildOpenApi(routes, { title: 'operator-events', version: '1' });
    return openapi;
  };
  routes.push(
    ...systemRoutes(deps, openapiDoc),
    ...jobRoutes(deps),
    ...jobStateRoutes(deps),
    ...pollingRoutes(deps),
    ...streamRoutes(deps),
    ...logRoutes(deps),
    ...meRoutes(),
    ...pipelineRoutes(deps),
    ...opsRoutes(deps),
    ...extraRoutes(deps),
  );
  const bodyLimits = {
    bytes: deps.config.server.body_limit_bytes,
    depth: deps.config.server.max_json_depth,
    fieldBytes: deps.config.server.max_payload_bytes,
  };
  for (const r of routes) {
    const path = r.path.replace(/\{(\w+)\}/g, ':$1');
    const queryToken = r.queryToken;
    const allowsQueryToken = (ctx: Context): boolean =>
      r.method === 'get' &&
      (queryToken === true || (typeof queryToken === 'function' && queryToken({ ...ctx.query })));
    const guards = r.role === 'public' ? [] : [authMiddleware(auth, allowsQueryToken), requireRole(r.role)];
    router[r.method](path, ...guards, async (ctx) => {
      const params = parse('path', r.params, ctx.params);
      const query = parse('query', r.query, { ...ctx.query });
      const raw = r.body ? await readJsonBody(ctx, bodyLimits) : undefined;
      const body = parse('body', r.body, raw);
      await r.handler(ctx, { params, query, body, principal: ctx.state.principal });
    });
  }
  app.use(async (ctx, next) => {
    const started = Date.now();
    await next();
    logRequest(deps.logger, {
      method: ctx.method,
      path: ctx.path,
      query: ctx.query,
      status: ctx.status,
      started,
      requestId: ctx.state.requestId as string | undefined,
    });
  });
  // Outside the error middleware, so a request that threw is counted with the status it was answered with.
  app.use(deps.metrics.middleware());
  app.use(answerHeaders());
  app.use(errorMiddleware(deps.logger));
  app.use(corsMiddleware(deps.config.server.cors_origins));
  app.use(staticUi());
  app.use(router.routes());
  app.use(router.allowedMethods({ throw: false }));
  return app;
}

/**
 * The HTTP server's `request` listener: the event streams' front (a plain `GET` of a stream path is served
 * before koa, so an idle stream holds no koa context), then the koa app for everything else.
 */
export function createRequestListener(
  deps: ApiDeps,
  extraRoutes: (deps: ApiDeps) => AnyRoute[] = () => [],
): RequestListener {
  const koa = createApp(deps, extraRoutes).callback();
  const front = new StreamFront(deps, {
    prefix: API_PREFIX,
    auth: new TokenAuthenticator(deps.config.auth.tokens),
    openers: new StreamOpeners(deps),
  });
  return (req, res) => {
    if (!front.take(req, res)) void koa(req, res);
  };
}
