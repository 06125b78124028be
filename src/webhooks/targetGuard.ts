import type { LookupAddress } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns/promises';
import { OperatorError } from '../domain/errors.ts';
import type { OutboundPolicy, Refusal } from '../infra/net/outboundPolicy.ts';
import { targetPort, targetRefusalMessage, urlHost } from '../infra/net/outboundPolicy.ts';
import { redactedUrl } from '../infra/net/redactedUrl.ts';

/**
 * A webhook URL that leads where webhooks may not go: loopback, private, link-local, ... (not listed in
 * `webhooks.allow_targets`), or the operator's own port. HTTP 400 at registration; the error class
 * `target_denied` of an attempt when a name resolves there at connect time.
 */
export class TargetDeniedError extends OperatorError {
  constructor(url: string | URL, refusal: Refusal) {
    super('webhook_target_forbidden', targetRefusalMessage(url, refusal), 'invalid', {
      url: redactedUrl(url),
      address: refusal.address,
      reason: refusal.reason,
    });
  }
}

export const isTargetDeniedError = (e: unknown): e is TargetDeniedError => e instanceof TargetDeniedError;

/** Every address a host name resolves to; the seam a test uses to play DNS (a rebinding name, say). */
export type Resolve = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolve: Resolve = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** What a request's target is judged by. */
export interface TargetGuard {
  policy: OutboundPolicy;
  /** The operator's own HTTP port (null before it listens). */
  ownPort: () => number | null;
  resolve?: Resolve;
}

/**
 * Refuses, without resolving anything, a URL whose host is a literal address (or `localhost`) that may
 * not be reached. Used at registration; names are judged on their addresses at connect time.
 * @throws TargetDeniedError
 */
export function assertTargetAllowed(url: URL, guard: TargetGuard): void {
  const refused = guard.policy.urlRefusal(url, guard.ownPort());
  if (refused) throw new TargetDeniedError(url, refused);
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for `http.request`: resolves the name, then fails the connection with a
 * {@link TargetDeniedError} when any of its addresses may not be reached, so a name that resolves (or
 * re-resolves, DNS rebinding) to loopback or a private address is refused on the addresses the socket
 * would actually use.
 */
export function guardedLookup(url: URL, guard: TargetGuard) {
  const resolve = guard.resolve ?? systemResolve;
  const host = urlHost(url);
  const port = targetPort(url);
  return (
    hostname: string,
    options: { all?: boolean; family?: number | string },
    callback: LookupCallback,
  ): void => {
    resolve(hostname).then(
      (addresses) => {
        const ownPort = guard.ownPort();
        for (const { address } of addresses) {
          const refused = guard.policy.refusal(host, address, port, ownPort);
          if (refused) return callback(new TargetDeniedError(url, refused), '');
        }
        const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
        const usable =
          family === 4 || family === 6 ? addresses.filter((a) => a.family === family) : addresses;
        const first = usable[0];
        if (!first) {
          const error: NodeJS.ErrnoException = new Error(`no address for ${hostname}`);
          error.code = 'ENOTFOUND';
          return callback(error, '');
        }
        if (options.all) callback(null, usable);
        else callback(null, first.address, first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    );
  };
}
