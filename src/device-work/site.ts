import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** Whether an IP lies in one of the site's subnets ("10.1.0.0/16", "fd00::/8", or a bare address). */
export class SiteSubnets {
  private readonly list = new BlockList();
  readonly invalid: string[] = [];

  constructor(subnets: readonly string[]) {
    for (const s of subnets) {
      const [addr, bits] = s.split('/');
      const type = addr && isIPv4(addr) ? 'ipv4' : addr && isIPv6(addr) ? 'ipv6' : undefined;
      const prefix = bits === undefined ? (type === 'ipv4' ? 32 : 128) : Number(bits);
      if (!type || !Number.isInteger(prefix) || prefix < 0 || prefix > (type === 'ipv4' ? 32 : 128)) {
        this.invalid.push(s);
        continue;
      }
      this.list.addSubnet(addr!, prefix, type);
    }
  }

  contains(ip: string): boolean {
    const type = isIPv4(ip) ? 'ipv4' : isIPv6(ip) ? 'ipv6' : undefined;
    return type !== undefined && this.list.check(ip, type);
  }
}

/** The site part of the relay's registration (docs/protocol.md §1). */
export interface SiteInfo {
  readonly subnets: readonly string[];
  readonly siteSpecific: boolean;
}

/**
 * The site rule tasks and rollouts share: a site-specific relay leaves devices outside its
 * subnets alone (not_applicable with this reason). Subnets are parsed once per registration.
 */
export class SiteRule {
  private parsed: { subnets: readonly string[]; set: SiteSubnets } | undefined;

  constructor(private readonly onInvalid: (invalid: readonly string[]) => void) {}

  /** Why `ip` is outside the site, or undefined when the device may be worked on. */
  refusal(site: SiteInfo | undefined, ip: string): string | undefined {
    if (!site?.siteSpecific) return undefined;
    if (this.parsed?.subnets !== site.subnets) {
      this.parsed = { subnets: site.subnets, set: new SiteSubnets(site.subnets) };
      if (this.parsed.set.invalid.length > 0) this.onInvalid(this.parsed.set.invalid);
    }
    if (this.parsed.set.contains(ip)) return undefined;
    return `outside this relay's site (${ip} is not in ${site.subnets.join(', ') || 'any subnet'})`;
  }
}
