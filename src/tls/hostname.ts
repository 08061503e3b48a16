import { isIP } from 'node:net';

/** Lower-cased, without a trailing dot: DNS names compare case-insensitively (RFC 4343). */
function norm(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/**
 * Does a certificate's DNS identity (CN or DNS SAN) cover `fqdn`? RFC 6125 §6.4.3 as the
 * CA/Browser Forum applies it: a wildcard is the whole left-most label only, matches exactly
 * one label (never the bare parent, never across dots), needs at least two labels after it,
 * and is never honoured against an IP literal.
 */
export function identityMatches(pattern: string, fqdn: string): boolean {
  const p = norm(pattern);
  const h = norm(fqdn);
  if (p === '' || h === '') return false;
  if (!p.includes('*')) return p === h;
  if (isIP(h) !== 0) return false;
  const pLabels = p.split('.');
  const hLabels = h.split('.');
  if (pLabels[0] !== '*') return false;
  if (pLabels.slice(1).some((l) => l.includes('*'))) return false;
  if (pLabels.length < 3) return false;
  if (pLabels.length !== hLabels.length) return false;
  if (hLabels[0] === '') return false;
  return pLabels.slice(1).every((l, i) => l === hLabels[i + 1]);
}

export function isIpLiteral(name: string): boolean {
  return isIP(name.replace(/^\[|\]$/g, '')) !== 0;
}
