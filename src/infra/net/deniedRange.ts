import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { embeddedIPv4, withoutZone } from './embeddedIPv4.ts';

export interface AddressRange {
  network: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
  /** What lives there, for the refusal message. */
  what: string;
  /** Where it is defined, or why it matters. */
  note?: string;
}

const v4 = (cidr: string, what: string, note?: string): AddressRange => {
  const [network, prefix] = cidr.split('/') as [string, string];
  return { network, prefix: Number(prefix), family: 'ipv4', what, ...(note ? { note } : {}) };
};
const v6 = (cidr: string, what: string, note?: string): AddressRange => ({
  ...v4(cidr, what, note),
  family: 'ipv6',
});

/**
 * Where an outbound request (a webhook) may not go unless the operator allows it: everything that is not
 * the public internet, i.e. this machine, its networks and its cloud's metadata service. Documentation
 * ranges (TEST-NET, 2001:db8::/32) are not listed: nothing answers there.
 */
export const DENIED_RANGES: readonly AddressRange[] = [
  v4('0.0.0.0/8', 'an unspecified ("this host") address'),
  v4('10.0.0.0/8', 'a private address', 'RFC 1918'),
  v4('100.64.0.0/10', 'a carrier-grade NAT address', 'RFC 6598'),
  v4('127.0.0.0/8', 'a loopback address'),
  v4('169.254.0.0/16', 'a link-local address', 'cloud metadata services live here'),
  v4('172.16.0.0/12', 'a private address', 'RFC 1918'),
  v4('192.0.0.0/24', 'an IETF protocol assignment', 'RFC 6890'),
  v4('192.168.0.0/16', 'a private address', 'RFC 1918'),
  v4('198.18.0.0/15', 'a benchmarking network address', 'RFC 2544'),
  v4('224.0.0.0/4', 'a multicast address'),
  v4('255.255.255.255/32', 'the broadcast address'),
  v4('240.0.0.0/4', 'a reserved address'),
  v6('::/128', 'the unspecified address'),
  v6('::1/128', 'the loopback address'),
  v6('100::/64', 'a discard-only address', 'RFC 6666'),
  v6('64:ff9b:1::/48', 'a local-use NAT64 address', 'RFC 8215'),
  v6('fc00::/7', 'a unique local address', 'ULA'),
  v6('fe80::/10', 'a link-local address'),
  v6('fec0::/10', 'a site-local address'),
  v6('ff00::/8', 'a multicast address'),
];

const matchers = DENIED_RANGES.map((range) => {
  const list = new BlockList();
  list.addSubnet(range.network, range.prefix, range.family);
  return { range, list };
});

/** The denied range `address` is in, as written (no embedded address looked at), or undefined. */
function rangeOf(address: string): AddressRange | undefined {
  const family = isIPv4(address) ? 'ipv4' : 'ipv6';
  // BlockList also matches IPv4 rules against IPv4-mapped IPv6; only same-family rules are asked here, the
  // embedded forms are judged explicitly below (all of them, not just the mapped one).
  return matchers.find((m) => m.range.family === family && m.list.check(address, family))?.range;
}

export interface Denial {
  range: AddressRange;
  /** The IPv4 address the IPv6 one leads to, when the denial comes from it. */
  via?: { ipv4: string; form: string };
}

/**
 * Why `address` may not be reached (its denied range, or that of an IPv4 address it embeds), or
 * undefined when it is a public address. Anything that is not an IP address is denied.
 */
export function deniedRange(address: string): Denial | undefined {
  const plain = withoutZone(address);
  if (!isIPv4(plain) && !isIPv6(plain))
    return { range: { network: plain, prefix: 0, family: 'ipv6', what: 'not an IP address' } };
  const own = rangeOf(plain);
  if (own) return { range: own };
  for (const embedded of embeddedIPv4(plain)) {
    const range = rangeOf(embedded.ipv4);
    if (range) return { range, via: embedded };
  }
  return undefined;
}

/** `a loopback address (127.0.0.0/8), as IPv4-mapped 127.0.0.1`. */
export function describeDenial(denial: Denial): string {
  const { range, via } = denial;
  const where = range.prefix === 0 ? [] : [`${range.network}/${range.prefix}`];
  const info = [...where, ...(range.note ? [range.note] : [])];
  return `${range.what}${info.length ? ` (${info.join(', ')})` : ''}${via ? `, as ${via.form} ${via.ipv4}` : ''}`;
}
