import type { X509Certificate } from 'node:crypto';

/** The CN of a subject/issuer as Node prints it ("CN=a\nO=b"), or ''. */
export function commonName(dn: string): string {
  for (const line of dn.split('\n')) {
    if (line.startsWith('CN=')) return line.slice(3);
  }
  return '';
}

/** A one-line distinguished name for reports: "CN=a, O=b". */
export function oneLineDn(dn: string): string {
  return dn
    .split('\n')
    .filter((l) => l !== '')
    .join(', ');
}

export interface AltNames {
  readonly dns: string[];
  readonly ip: string[];
  readonly other: string[];
}

/** Splits Node's "DNS:a, IP Address:1.2.3.4" (entries may be JSON-quoted) into kinds. */
export function altNames(cert: X509Certificate): AltNames {
  const out: AltNames = { dns: [], ip: [], other: [] };
  const text = cert.subjectAltName;
  if (!text) return out;
  const re = /(DNS|IP Address|[A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:,\s*|$)/g;
  for (const m of text.matchAll(re)) {
    const kind = m[1]!;
    let value = m[2]!;
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        // keep it as printed
      }
    }
    if (kind === 'DNS') out.dns.push(value);
    else if (kind === 'IP Address') out.ip.push(value);
    else out.other.push(`${kind}:${value}`);
  }
  return out;
}

/** Signed by its own key (checkIssued would also demand keyCertSign, which a self-signed leaf lacks). */
export function isSelfIssued(cert: X509Certificate): boolean {
  return cert.subject === cert.issuer && cert.verify(cert.publicKey);
}
