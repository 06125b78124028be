import type { LookupAddress, LookupOneOptions } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { OperatorError } from '../domain/errors.ts';

/** A webhook URL that points back at the operator's own HTTP port (HTTP 422 at registration). */
export class ForbiddenTargetError extends OperatorError {
  constructor(url: string, address: string, port: number) {
    super(
      'webhook_target_forbidden',
      `webhook URL ${url} reaches the operator itself (${address}:${port}): pick another host or port`,
      422,
      { url, address, port },
    );
  }
}

export const isForbiddenTargetError = (e: unknown): e is ForbiddenTargetError =>
  e instanceof ForbiddenTargetError;

function stripBrackets(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

/** `::ffff:127.0.0.1` -> `127.0.0.1`. */
function unmapped(address: string): string {
  const match = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return match ? (match[1] as string) : address.toLowerCase();
}

/** Loopback, the unspecified address, or an address of one of this machine's interfaces. */
export function isLocalAddress(address: string): boolean {
  const a = unmapped(address);
  if (a.startsWith('127.') || a === '0.0.0.0' || a === '::1' || a === '::') return true;
  for (const list of Object.values(networkInterfaces()))
    for (const iface of list ?? []) if (unmapped(iface.address) === a) return true;
  return false;
}

export function targetPort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

/** True when a request to `address:port` would reach this operator's own HTTP server. */
export function isOwnServer(address: string, port: number, ownPort: number | null): boolean {
  return ownPort !== null && port === ownPort && isLocalAddress(address);
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for `http.request` that refuses addresses of the operator itself, checked on the address the
 * connection will actually use (so a name that re-resolves to loopback after registration is still refused).
 */
export function guardedLookup(url: URL, ownPort: () => number | null) {
  const port = targetPort(url);
  return (
    hostname: string,
    options: LookupOneOptions & { all?: boolean },
    callback: LookupCallback,
  ): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) {
        callback(err, '');
        return;
      }
      const own = addresses.find((a) => isOwnServer(a.address, port, ownPort()));
      if (own) {
        callback(new ForbiddenTargetError(url.href, own.address, port), '');
        return;
      }
      if (options.all) callback(null, addresses);
      else {
        const first = addresses[0] as LookupAddress;
        callback(null, first.address, first.family);
      }
    });
  };
}

/** Throws `ForbiddenTargetError` when the URL's host is (or resolves to) a local address on the operator's port. */
export async function assertNotOwnServer(url: URL, ownPort: number | null): Promise<void> {
  if (ownPort === null) return;
  const port = targetPort(url);
  if (port !== ownPort) return;
  const host = stripBrackets(url.hostname);
  const addresses =
    isIP(host) !== 0
      ? [host]
      : await new Promise<string[]>((resolve) => {
          dnsLookup(host, { all: true }, (err, found) => resolve(err ? [] : found.map((a) => a.address)));
        });
  const own = addresses.find((a) => isOwnServer(a, port, ownPort));
  if (own !== undefined) throw new ForbiddenTargetError(url.href, own, port);
}

/** An IP literal host skips `lookup`, so it is checked before the request. */
export function literalAddress(url: URL): string | null {
  const host = stripBrackets(url.hostname);
  return isIP(host) !== 0 ? host : null;
}
