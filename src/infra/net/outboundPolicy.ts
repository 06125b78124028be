import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { AllowTarget } from './allowTarget.ts';
import { normalHostName, parseAllowTarget } from './allowTarget.ts';
import { deniedRange, describeDenial } from './deniedRange.ts';
import { embeddedIPv4, withoutZone } from './embeddedIPv4.ts';
import { redactedUrl } from './redactedUrl.ts';

/** Why a request may not go to an address. */
export interface Refusal {
  address: string;
  reason: string;
  /** It is the operator's own port on this machine: no allowlist opens that. */
  ownPort: boolean;
}

/** The port a URL connects to. */
export function targetPort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

/** `URL.hostname` without the brackets of an IPv6 literal. */
export const urlHost = (url: URL): string =>
  url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;

const THIS_HOST = new BlockList();
THIS_HOST.addSubnet('127.0.0.0', 8, 'ipv4');
THIS_HOST.addSubnet('0.0.0.0', 8, 'ipv4');
THIS_HOST.addAddress('::1', 'ipv6');
THIS_HOST.addAddress('::', 'ipv6');

/** Every IPv4 address an address stands for: itself when IPv4, else the ones it embeds, with itself. */
function faces(address: string): string[] {
  const plain = withoutZone(address);
  return [plain, ...embeddedIPv4(plain).map((e) => e.ipv4)];
}

const familyOf = (address: string) => (isIP(address) === 4 ? 'ipv4' : 'ipv6');

/** Loopback, unspecified, or one of this machine's interface addresses, in any of its forms. */
export function isThisMachine(address: string): boolean {
  const local = new Set(
    Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => withoutZone(i.address))),
  );
  return faces(address).some((a) => isIP(a) !== 0 && (THIS_HOST.check(a, familyOf(a)) || local.has(a)));
}

/**
 * Where outbound requests may go: not to {@link DENIED_RANGES} (loopback, private, link-local, ...) in any
 * form, unless `allow_targets` lists the address's range or the URL's host name; and never to the
 * operator's own port on this machine, whatever the list says.
 */
export class OutboundPolicy {
  readonly #ranges = new BlockList();
  readonly #hosts = new Set<string>();

  /** @throws Error naming the first entry that is neither a range, an address nor a host name. */
  constructor(allowTargets: readonly string[] = []) {
    for (const entry of allowTargets) {
      const target: AllowTarget | string = parseAllowTarget(entry);
      if (typeof target === 'string') throw new Error(target);
      if (target.kind === 'host') this.#hosts.add(target.host);
      else this.#ranges.addSubnet(target.network, target.prefix, target.family);
    }
  }

  /** True when the host name itself is listed (its addresses are then trusted). */
  allowsHost(host: string): boolean {
    return this.#hosts.has(normalHostName(host));
  }

  /** True when a listed range holds the address (or the IPv4 address it embeds). */
  allowsAddress(address: string): boolean {
    return faces(address).some((a) => isIP(a) !== 0 && this.#ranges.check(a, familyOf(a)));
  }

  /**
   * Why a request for `host` (a URL's host: a name or a literal) may not connect to `address`, one of the
   * addresses it resolved to; undefined when it may.
   */
  refusal(host: string, address: string, port: number, ownPort: number | null): Refusal | undefined {
    if (ownPort !== null && port === ownPort && isThisMachine(address))
      return { address, reason: `this machine, on the operator's own port ${port}`, ownPort: true };
    if (this.allowsHost(host) || this.allowsAddress(address)) return undefined;
    const denial = deniedRange(address);
    return denial ? { address, reason: describeDenial(denial), ownPort: false } : undefined;
  }

  /**
   * What can be told from the URL alone: a literal address, or a `localhost` name (which always means
   * loopback, RFC 6761). Other names are judged on what they resolve to, at connect time.
   */
  urlRefusal(url: URL, ownPort: number | null): Refusal | undefined {
    const host = urlHost(url);
    const port = targetPort(url);
    if (isIP(host) !== 0) return this.refusal(host, host, port, ownPort);
    const name = normalHostName(host);
    if (name !== 'localhost' && !name.endsWith('.localhost')) return undefined;
    for (const address of ['127.0.0.1', '::1']) {
      const refused = this.refusal(host, address, port, ownPort);
      if (refused) return refused;
    }
    return undefined;
  }
}

/** The one sentence every refusal is told with (API answer, config error, delivery attempt, log). */
export function targetRefusalMessage(url: string | URL, refusal: Refusal): string {
  const opens = refusal.ownPort
    ? "no allowlist opens the operator's own port"
    : 'list it in webhooks.allow_targets to allow it';
  return `webhook URL ${redactedUrl(url)} leads to ${refusal.address}, ${refusal.reason}: ${opens}`;
}
