import { isIPv4 } from 'node:net';
import { z } from 'zod';
import { isSystemActorName, SYSTEM_ACTORS } from '../../domain/actors.ts';
import { DEFAULT_ADMIN_TOKEN } from './defaultToken.ts';

export { DEFAULT_ADMIN_TOKEN };

export const ROLES = ['admin', 'operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/** Shortest token accepted on a non-loopback bind (about 144 bits as random base64url). */
export const MIN_EXPOSED_TOKEN_LENGTH = 24;

/**
 * What a token may hold: printable ASCII without the space, codes 33 to 126 (letters, digits and the
 * punctuation from `!` to `~`). Anything else could never be sent: `Authorization: Bearer <token>` ends at
 * white space, and a browser refuses a header with a character outside Latin-1.
 */
export const TOKEN_CHARACTERS = /^[\x21-\x7e]+$/;
export const TOKEN_CHARACTERS_RULE =
  'printable ASCII without spaces (letters, digits and the punctuation ! to ~, codes 33 to 126)';

export const tokenSchema = z
  .strictObject({
    name: z.string().min(1),
    // A token of the wrong type is never quoted back: the message would print it.
    token: z.string({ error: 'expected a string' }).min(8, 'a token needs at least 8 characters'),
    role: z.enum(ROLES),
  })
  .superRefine(({ name, token }, ctx) => {
    if (!TOKEN_CHARACTERS.test(token))
      ctx.addIssue({
        code: 'custom',
        path: ['token'],
        message: `the token named ${JSON.stringify(name)} has a character a token cannot have: a token is ${TOKEN_CHARACTERS_RULE}`,
      });
    if (isSystemActorName(name))
      ctx.addIssue({
        code: 'custom',
        path: ['name'],
        message: `${JSON.stringify(name)} is the name of an actor the operator records for itself (${SYSTEM_ACTORS.join(', ')}, in any case): a token so named would pass for it in the audit`,
      });
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
