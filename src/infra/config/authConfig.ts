import { isIPv4 } from 'node:net';
import { z } from 'zod';
import { DEFAULT_ADMIN_TOKEN } from './defaultToken.ts';

export { DEFAULT_ADMIN_TOKEN };

export const ROLES = ['admin', 'operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/** Shortest token accepted on a non-loopback bind (about 144 bits as random base64url). */
export const MIN_EXPOSED_TOKEN_LENGTH = 24;

export const tokenSchema = z.strictObject({
  name: z.string().min(1),
  token: z.string().min(8, 'a token needs at least 8 characters'),
  role: z.enum(ROLES),
});

/**
 * True for names and addresses that only this machine can reach: `localhost`, 127.0.0.0/8 and ::1 (also as
 * an IPv4-mapped address). Everything else, `0.0.0.0` and `::` included, counts as exposed.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice('::ffff:'.length) : h;
  return isIPv4(v4) && v4.startsWith('127.');
}

/** Why `token` must not guard a port the network can reach, or null when it may. */
export function tokenWeakness(token: string): string | null {
  if (token === DEFAULT_ADMIN_TOKEN) return 'this is the public seed token';
  if (token.length < MIN_EXPOSED_TOKEN_LENGTH)
    return `this token is shorter than ${MIN_EXPOSED_TOKEN_LENGTH} characters`;
  return null;
}

/**
 * The tokens that must not guard `host` (the seed token, short ones) when it is not a loopback address:
 * each token's index with the message that says why and what to do.
 */
export function exposedTokenIssues(host: string, tokens: readonly { token: string }[]): [number, string][] {
  if (isLoopbackHost(host)) return [];
  return tokens.flatMap(({ token }, i): [number, string][] => {
    const weakness = tokenWeakness(token);
    return weakness
      ? [
          [
            i,
            `${weakness}, and server.host ${host} is not a loopback address: anyone who reaches the port could use it. Set OPERATOR_ADMIN_TOKEN (or OPERATOR_TOKENS_FILE, or auth.tokens) to a random token of at least ${MIN_EXPOSED_TOKEN_LENGTH} characters (e.g. \`openssl rand -base64 32\`), or bind to 127.0.0.1`,
          ],
        ]
      : [];
  });
}
