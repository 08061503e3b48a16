import { BlockList, isIP } from 'node:net';
import { parseCidr } from '../config/cidr.js';

/**
 * NO_PROXY as curl and undici read it, plus CIDR ranges (which curl ≥ 7.86 accepts and many
 * corporate environments write): a comma- or space-separated list of
 * - `*`: no host goes through the proxy;
 * - a host name, optionally with a leading `.` or `*.`: that host and every name under it
 *   (`example.com` matches `dms.example.com`, never `badexample.com`);
 * - an IP address, or a CIDR range (`10.0.0.0/8`, `fd00::/8`): a host written as an address in it.
 *   Names are not resolved to match a range (as in curl: the decision is made before DNS);
 * - any of the above with `:port` (IPv6 in brackets: `[::1]:443`): only that port.
 */
export type NoProxyRule =
  | { readonly kind: 'all'; readonly text: string }
  | { readonly kind: 'host'; readonly text: string; readonly suffix: string; readonly port?: number }
  | { readonly kind: 'ip'; readonly text: string; readonly list: BlockList; readonly port?: number };

export interface NoProxyList {
  readonly rules: readonly NoProxyRule[];
  /** Entries that are none of the forms above, each with why (ignored when matching). */
  readonly problems: readonly string[];
}

function withPort(entry: string): { base: string; port?: number } | string {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return bracketed[2] === undefined ? { base: bracketed[1]! } : portOf(bracketed[1]!, bracketed[2], entry);
  // A bare IPv6 address or range holds colons of its own: no port can follow it unbracketed.
  if (isIP(entry) === 6 || (entry.includes('/') && isIP(entry.slice(0, entry.indexOf('/'))) === 6)) return { base: entry };
  const hostPort = /^(.*):(\d+)$/.exec(entry);
  if (hostPort) return portOf(hostPort[1]!, hostPort[2]!, entry);
  return { base: entry };
}

function portOf(base: string, port: string, entry: string): { base: string; port: number } | string {
  const n = Number(port);
  if (!Number.isInteger(n) || n < 1 || n > 65535) return `"${entry}": port must be 1-65535`;
  return { base, port: n };
}

function parseEntry(entry: string): NoProxyRule | string {
  if (entry === '*') return { kind: 'all', text: entry };
  const split = withPort(entry);
  if (typeof split === 'string') return split;
  const { base } = split;
  const port = split.port !== undefined ? { port: split.port } : {};
  if (isIP(base) !== 0 || base.includes('/')) {
    const cidr = parseCidr(base);
    if (typeof cidr === 'string') return cidr;
    const list = new BlockList();
    list.addSubnet(cidr.address, cidr.prefix, cidr.family);
    return { kind: 'ip', text: entry, list, ...port };
  }
  const suffix = base
    .replace(/^\*?\./, '')
    .replace(/\.$/, '')
    .toLowerCase();
  if (!/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/.test(suffix)) return `"${entry}" is not a host name, IP address or CIDR range`;
  return { kind: 'host', text: entry, suffix, ...port };
}

/** Parses a NO_PROXY value (or the entries of the noProxy setting). */
export function parseNoProxy(value: string | readonly string[]): NoProxyList {
  const entries = (typeof value === 'string' ? value.split(/[\s,]+/) : value).map((e) => e.trim()).filter((e) => e !== '');
  const rules: NoProxyRule[] = [];
  const problems: string[] = [];
  for (const e of entries) {
    const r = parseEntry(e);
    if (typeof r === 'string') problems.push(r);
    else rules.push(r);
  }
  return { rules, problems };
}

/** The host as it appears in a URL (`[::1]` → `::1`), lower-case, without a trailing dot. */
function bareHost(host: string): string {
  return host
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '')
    .toLowerCase();
}

/** The first rule that sends `host:port` direct, or undefined when the proxy applies. */
export function noProxyMatch(list: NoProxyList, host: string, port: number): NoProxyRule | undefined {
  const h = bareHost(host);
  const family = isIP(h);
  for (const rule of list.rules) {
    if (rule.kind === 'all') return rule;
    if (rule.port !== undefined && rule.port !== port) continue;
    if (rule.kind === 'host') {
      if (family === 0 && (h === rule.suffix || h.endsWith(`.${rule.suffix}`))) return rule;
    } else if (family !== 0) {
      const mapped = family === 6 && /^::ffff:\d+\.\d+\.\d+\.\d+$/.test(h) ? h.slice(7) : h;
      if (rule.list.check(mapped, isIP(mapped) === 4 ? 'ipv4' : 'ipv6')) return rule;
    }
  }
  return undefined;
}
