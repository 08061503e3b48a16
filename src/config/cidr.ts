import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** One CIDR range as written in the config (`203.0.113.0/24`, `2001:db8::/32`, or a single address). */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** Parses `addr[/prefix]`; a bare address is a single host (/32 or /128). Returns the problem as text. */
export function parseCidr(text: string): Cidr | string {
  const t = text.trim();
  const slash = t.indexOf('/');
  const address = slash < 0 ? t : t.slice(0, slash);
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (!family) return `"${text}" is not an IP address or CIDR range (e.g. 203.0.113.0/24, 2001:db8::/32)`;
  const max = family === 'ipv4' ? 32 : 128;
  if (slash < 0) return { address, prefix: max, family };
  const p = t.slice(slash + 1);
  if (!/^\d{1,3}$/.test(p) || Number(p) > max) return `"${text}": prefix length must be 0-${max}`;
  return { address, prefix: Number(p), family };
}

/** A set of CIDR ranges; `has` takes addresses as sockets report them (IPv4-mapped IPv6 included). */
export class CidrSet {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(ranges: readonly string[]) {
    for (const r of ranges) {
      const c = parseCidr(r);
      if (typeof c === 'string') throw new Error(c);
      this.list.addSubnet(c.address, c.prefix, c.family);
    }
    this.size = ranges.length;
  }

  has(address: string | undefined): boolean {
    if (address === undefined) return false;
    if (address.startsWith('::ffff:') && isIPv4(address.slice(7))) return this.list.check(address.slice(7), 'ipv4');
    if (isIPv4(address)) return this.list.check(address, 'ipv4');
    return isIPv6(address) && this.list.check(address, 'ipv6');
  }
}
