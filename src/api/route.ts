import type { Context } from 'koa';
import type { z } from 'zod';
import type { Role } from '../infra/config/authConfig.ts';
import type { Principal } from './auth.ts';

type Schema = z.ZodType;
type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteInput<P, Q, B> {
  params: Out<P>;
  query: Out<Q>;
  body: Out<B>;
  principal: Principal;
}

export interface ResponseSpec {
  description: string;
  schema?: Schema;
  /** Default `application/json`. */
  contentType?: string;
}

/**
 * One route: its schemas serve both validation and the OpenAPI document, so the two cannot drift apart.
 */
export interface RouteSpec<
  P extends Schema | undefined,
  Q extends Schema | undefined,
  B extends Schema | undefined,
> {
  method: 'get' | 'post' | 'delete';
  /** OpenAPI style: `/jobs/{id}`. */
  path: string;
  summary: string;
  tag: string;
  /** `public` needs no token. */
  role: Role | 'public';
  params?: P;
  query?: Q;
  body?: B;
  /**
   * Also take the token from `?access_token=`: only for GET routes an `EventSource` opens (it cannot send
   * headers). A function decides per request (the log route takes it only with `follow`).
   */
  queryToken?: true | ((query: Record<string, unknown>) => boolean);
  /** Request headers worth documenting (e.g. If-Match, Last-Event-ID). */
  headers?: Record<string, string>;
  responses: Record<number, ResponseSpec>;
  handler: (ctx: Context, input: RouteInput<P, Q, B>) => Promise<void> | void;
}

// biome-ignore lint/suspicious/noExplicitAny: a route table holds routes of every input type
export type AnyRoute = RouteSpec<any, any, any>;

export function route<
  P extends Schema | undefined = undefined,
  Q extends Schema | undefined = undefined,
  B extends Schema | undefined = undefined,
>(spec: RouteSpec<P, Q, B>): AnyRoute {
  return spec as AnyRoute;
}

/** The usual error responses, documented once. */
export const errorResponses = (...statuses: number[]): Record<number, ResponseSpec> => {
  const text: Record<number, string> = {
    400: 'invalid input (zod issues in error.details)',
    401: 'missing or invalid token',
    403: 'the token role may not do this',
    404: 'unknown job or route',
    409: 'conflict with the job state or a concurrent write',
    413: 'request body over the limit',
    415: 'request body is not JSON',
    422: 'the command names something the pipeline does not have',
  };
  return Object.fromEntries(statuses.map((s) => [s, { description: text[s] ?? 'error' }]));
};
