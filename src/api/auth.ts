import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Role } from '../infra/config/authConfig.ts';
import { forbidden, unauthorized } from './errors.ts';

export interface Principal {
  name: string;
  role: Role;
}

interface TokenEntry extends Principal {
  digest: Buffer;
}

const digest = (token: string): Buffer => createHash('sha256').update(token).digest();

/**
 * Checks Bearer tokens (and `?access_token=` for EventSource, which cannot send headers) against the
 * configured ones. Tokens are compared as SHA-256 digests with `timingSafeEqual`, so the comparison takes the
 * same time whatever the guess.
 */
export class TokenAuthenticator {
  private readonly entries: TokenEntry[];

  constructor(tokens: readonly { name: string; token: string; role: Role }[]) {
    this.entries = tokens.map((t) => ({ name: t.name, role: t.role, digest: digest(t.token) }));
  }

  authenticate(token: string): Principal | null {
    const candidate = digest(token);
    let found: Principal | null = null;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, candidate)) found = { name: entry.name, role: entry.role };
    }
    return found;
  }
}

/**
 * The request's token: the Bearer header, or `?access_token=` where the route allows it. A token in the
 * query of any other route is refused outright (401), so a write can never be made with a token that
 * proxies, browser history and referrers may have kept. Takes the raw parts, so the stream routes served
 * before koa check tokens with this same code.
 */
export function requestToken(
  authorization: string,
  queryToken: unknown,
  queryAllowed: boolean,
): string | null {
  if (queryToken !== undefined && !queryAllowed)
    throw unauthorized(
      'access_token in the query is accepted only by the stream routes: send Authorization: Bearer <token>',
    );
  if (authorization) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    return match ? (match[1] as string) : null;
  }
  if (Array.isArray(queryToken)) throw unauthorized('access_token given more than once: give it once');
  return typeof queryToken === 'string' && queryToken.length > 0 ? queryToken : null;
}

export function tokenFrom(ctx: Context, queryAllowed: boolean): string | null {
  return requestToken(ctx.get('authorization'), ctx.query.access_token, queryAllowed);
}

/** The principal a token names; 401 (`unauthorized`) without a token or with an unknown one. */
export function principalFor(auth: TokenAuthenticator, token: string | null): Principal {
  if (!token) throw unauthorized('missing bearer token (Authorization: Bearer <token>)');
  const principal = auth.authenticate(token);
  if (!principal) throw unauthorized('invalid token');
  return principal;
}

export function authMiddleware(auth: TokenAuthenticator, queryAllowed: (ctx: Context) => boolean) {
  return async (ctx: Context, next: Next): Promise<void> => {
    ctx.state.principal = principalFor(auth, tokenFrom(ctx, queryAllowed(ctx)));
    await next();
  };
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Whether a principal's role reaches `role` (admin > operator > viewer). */
export const mayActAs = (principal: Principal, role: Role): boolean => RANK[principal.role] >= RANK[role];

/** Route guard: `operator` may run commands, `admin` may do everything, `viewer` only reads. */
export function requireRole(role: Role) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const principal = ctx.state.principal as Principal | undefined;
    if (!principal) throw unauthorized('missing bearer token');
    if (!mayActAs(principal, role)) throw forbidden(`role ${principal.role} may not do this (needs ${role})`);
    await next();
  };
}

export const principalOf = (ctx: Context): Principal => ctx.state.principal as Principal;
