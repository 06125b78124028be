import { isIP } from 'node:net';

/** One entry of `webhooks.allow_targets`: an address range, or a host name trusted whatever it resolves to. */
export type AllowTarget =
  | { kind: 'range'; network: string; prefix: number; family: 'ipv4' | 'ipv6' }
  | { kind: 'host'; host: string };

const HOST_NAME =
  /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

const unbracketed = (text: string) => (text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text);

/** A host name as compared: lower case, without a trailing dot. */
export const normalHostName = (host: string): string => host.toLowerCase().replace(/\.$/, '');

/**
 * Parses `10.1.0.0/16`, `fd00::/8`, a single address (`192.168.1.20`, `[fd00::1]`) or a host name
 * (`hooks.internal.example`); a string saying what is wrong otherwise.
 */
export function parseAllowTarget(entry: string): AllowTarget | string {
  const text = entry.trim();
  const slash = text.indexOf('/');
  const address = unbracketed(slash === -1 ? text : text.slice(0, slash));
  const family = isIP(address);
  if (family !== 0) {
    const max = family === 4 ? 32 : 128;
    const prefixText = slash === -1 ? String(max) : text.slice(slash + 1);
    const prefix = Number(prefixText);
    if (!/^\d{1,3}$/.test(prefixText) || prefix > max)
      return `"${entry}": the prefix length must be 0 to ${max}`;
    return { kind: 'range', network: address, prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
  }
  const host = normalHostName(text);
  if (slash !== -1 || !HOST_NAME.test(host))
    return `"${entry}": not a CIDR range (10.1.0.0/16, fd00::/8), an IP address or a host name`;
  return { kind: 'host', host };
}
