import { isIPv4, isIPv6 } from 'node:net';

/** An IPv6 address without its zone (`fe80::1%eth0` -> `fe80::1`). */
export const withoutZone = (address: string): string => address.split('%')[0] as string;

/** The eight 16-bit groups of a valid IPv6 address (any spelling, an embedded dotted quad included). */
export function ipv6Groups(address: string): number[] | null {
  const text = withoutZone(address);
  if (!isIPv6(text)) return null;
  let body = text;
  const tail: number[] = [];
  const lastColon = body.lastIndexOf(':');
  const last = body.slice(lastColon + 1);
  if (last.includes('.')) {
    // A trailing dotted quad stands for the last two groups.
    const [a, b, c, d] = last.split('.').map(Number) as [number, number, number, number];
    tail.push((a << 8) | b, (c << 8) | d);
    body = body.slice(0, lastColon + 1);
    if (!body.endsWith('::')) body = body.slice(0, -1);
  }
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const gap = body.indexOf('::');
  const head = parse(gap === -1 ? body : body.slice(0, gap));
  const rest = gap === -1 ? [] : parse(body.slice(gap + 2));
  const zeros = 8 - head.length - rest.length - tail.length;
  return [...head, ...new Array<number>(zeros).fill(0), ...rest, ...tail];
}

const dotted = (high: number, low: number) => `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;

/** How an IPv6 address carries an IPv4 one. */
export type EmbeddingForm =
  | 'IPv4-mapped'
  | 'IPv4-translated'
  | 'IPv4-compatible'
  | 'NAT64'
  | '6to4'
  | 'Teredo';

export interface EmbeddedIPv4 {
  ipv4: string;
  form: EmbeddingForm;
}

/**
 * The IPv4 addresses an IPv6 address leads to: `::ffff:a.b.c.d` (mapped; what a dual-stack socket makes of
 * an IPv4 peer), `::ffff:0:a.b.c.d` (SIIT), `::a.b.c.d` (the deprecated compatible form), `64:ff9b::/96`
 * (NAT64), `2002:AABB:CCDD::/48` (6to4) and Teredo's server and client. A request to any of them can end at
 * the IPv4 host, so each is judged as that host.
 */
export function embeddedIPv4(address: string): EmbeddedIPv4[] {
  if (isIPv4(address)) return [];
  const g = ipv6Groups(address);
  if (!g) return [];
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const low = dotted(g6, g7);
  const zeroTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroTo(5) && g5 === 0xffff) return [{ ipv4: low, form: 'IPv4-mapped' }];
  if (zeroTo(4) && g4 === 0xffff && g5 === 0) return [{ ipv4: low, form: 'IPv4-translated' }];
  if (zeroTo(6)) return [{ ipv4: low, form: 'IPv4-compatible' }];
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0)
    return [{ ipv4: low, form: 'NAT64' }];
  if (g0 === 0x2002) return [{ ipv4: dotted(g1, g2), form: '6to4' }];
  if (g0 === 0x2001 && g1 === 0)
    return [
      { ipv4: dotted(g2, g3), form: 'Teredo' },
      { ipv4: dotted(~g6 & 0xffff, ~g7 & 0xffff), form: 'Teredo' },
    ];
  return [];
}
