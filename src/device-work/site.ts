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
