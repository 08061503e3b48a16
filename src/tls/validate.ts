import type { KeyObject, X509Certificate } from 'node:crypto';
import type { CertProblem } from './errors.js';
import { identityMatches, isIpLiteral } from './hostname.js';
import type { PfxContents } from './pfx.js';
import { altNames, commonName, isSelfIssued, oneLineDn } from './x509-fields.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const STRONG_CURVES: Readonly<Record<string, string>> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
const DAY_MS = 86_400_000;

export interface ChainEntry {
  readonly subject: string;
  readonly issuer: string;
  readonly notAfter: string;
}

/** Everything `cert check`, the heartbeat and the logs say about a certificate. */
export interface CertReport {
  readonly valid: boolean;
  readonly subject: string;
  readonly commonName: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly issuer: string;
  /** Leaf first, then each issuer as found in the file. */
  readonly chain: readonly ChainEntry[];
  readonly key: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly daysLeft: number;
  readonly selfSigned: boolean;
  readonly problems: readonly CertProblem[];
}

/** A validated certificate ready to serve: the report plus PEM material for tls.createSecureContext. */
export interface CheckedCertificate {
  readonly report: CertReport;
  readonly keyPem: string;
  /** Leaf and intermediates, in order; the root is left out (clients have it or do not trust it). */
  readonly chainPem: string;
}

function dateOf(text: string): Date {
  return new Date(Date.parse(text));
}

function describeKey(key: KeyObject): { text: string; problem?: CertProblem } {
  const type = key.asymmetricKeyType;
  const d = key.asymmetricKeyDetails ?? {};
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = d.modulusLength ?? 0;
    const text = `RSA ${bits} bits`;
    return bits >= 2048 ? { text } : { text, problem: { code: 'KEY_TOO_WEAK', message: `the key is RSA ${bits} bits; at least 2048 bits are required` } };
  }
  if (type === 'ec') {
    const curve = d.namedCurve ?? 'unknown curve';
    const nice = STRONG_CURVES[curve];
    return nice
      ? { text: `EC ${nice}` }
      : { text: `EC ${curve}`, problem: { code: 'KEY_TOO_WEAK', message: `the key is on elliptic curve ${curve}; P-256, P-384 or P-521 is required` } };
  }
  return {
    text: String(type),
    problem: { code: 'KEY_TYPE_UNSUPPORTED', message: `the key type ${String(type)} is not supported by phones; use RSA (2048 bits or more) or EC P-256/P-384` },
  };
}

function issuedBy(child: X509Certificate, parent: X509Certificate): 'yes' | 'name-only' | 'no' {
  if (!child.checkIssued(parent)) return 'no';
  return child.verify(parent.publicKey) ? 'yes' : 'name-only';
}

/**
 * Checks a PFX's contents against what the DMS and the phones require. Every problem is
 * collected (an admin fixes a certificate in one round trip), each with its own code.
 */
export function checkCertificate(pfx: PfxContents, fqdn: string, now: number): CheckedCertificate {
  const problems: CertProblem[] = [];
  const certs = pfx.certs;
  let leaf = certs.find((c) => c.checkPrivateKey(pfx.key));
  if (!leaf) {
    leaf = certs[0]!;
    problems.push({ code: 'KEY_MISMATCH', message: `the private key does not belong to the certificate "${oneLineDn(leaf.subject)}" (nor to any other certificate in the file)` });
  } else if (leaf !== certs[0]) {
    problems.push({
      code: 'CHAIN_ORDER',
      message: `the relay's own certificate "${oneLineDn(leaf.subject)}" must come first in the PFX, but the file starts with "${oneLineDn(certs[0]!.subject)}"`,
    });
  }

  // Walk issuer links from the leaf through the certificates in the file.
  const chain: X509Certificate[] = [leaf];
  const rest = certs.filter((c) => c !== leaf);
  let cur = leaf;
  let complete = isSelfIssued(leaf);
  while (!complete && rest.length > 0) {
    const idx = rest.findIndex((c) => issuedBy(cur, c) === 'yes');
    if (idx < 0) {
      const impostor = rest.find((c) => issuedBy(cur, c) === 'name-only');
      if (impostor) {
        problems.push({
          code: 'CHAIN_BROKEN',
          message: `"${oneLineDn(impostor.subject)}" has the right name but did not sign "${oneLineDn(cur.subject)}" (a different key: probably a renewed CA certificate); include the matching issuer certificate`,
        });
      }
      break;
    }
    cur = rest.splice(idx, 1)[0]!;
    chain.push(cur);
    complete = isSelfIssued(cur);
  }
  const selfSigned = chain.length === 1 && isSelfIssued(leaf);
  if (selfSigned) {
    problems.push({ code: 'CERT_SELF_SIGNED', message: 'the certificate is self-signed; phones will not trust it. Use a certificate issued by a CA the phones trust' });
  } else if (!complete) {
    problems.push({
      code: 'CHAIN_INCOMPLETE',
      message: `the certificate chain is incomplete: it stops at "${oneLineDn(cur.subject)}", whose issuer "${oneLineDn(cur.issuer)}" is not in the file. Export the PFX with "include all certificates in the certification path"`,
    });
  }
  if (!problems.some((p) => p.code === 'CHAIN_ORDER') && chain.some((c, i) => certs[i] !== c)) {
    problems.push({
      code: 'CHAIN_ORDER',
      message: `the certificates are not in order (the relay's certificate first, then each issuer up to the root): found ${certs.map((c) => `"${commonName(c.subject) || oneLineDn(c.subject)}"`).join(' → ')}`,
    });
  }
  for (const ca of chain.slice(1)) {
    if (dateOf(ca.validTo).getTime() < now) {
      problems.push({ code: 'CHAIN_CERT_EXPIRED', message: `the issuing certificate "${oneLineDn(ca.subject)}" expired on ${dateOf(ca.validTo).toISOString()}` });
    }
  }

  const key = describeKey(leaf.publicKey);
  if (key.problem) problems.push(key.problem);

  const eku = leaf.keyUsage;
  if (!eku || !eku.includes(SERVER_AUTH)) {
    problems.push({
      code: 'EKU_NO_SERVER_AUTH',
      message:
        eku && eku.length > 0
          ? `the certificate has no Server Authentication EKU (1.3.6.1.5.5.7.3.1); it allows only ${eku.join(', ')}`
          : 'the certificate has no Server Authentication EKU (1.3.6.1.5.5.7.3.1)',
    });
  }

  const cn = commonName(leaf.subject);
  const names = altNames(leaf);
  const ipIdentities = [...names.ip, ...names.dns.filter(isIpLiteral), ...(isIpLiteral(cn) ? [cn] : [])];
  if (ipIdentities.length > 0) {
    problems.push({ code: 'IP_IDENTITY', message: `the certificate names IP addresses (${ipIdentities.join(', ')}); the DMS requires DNS names only` });
  }
  const identities = [cn, ...names.dns].filter((n) => n !== '' && !isIpLiteral(n));
  if (!identities.some((n) => identityMatches(n, fqdn))) {
    problems.push({
      code: 'FQDN_MISMATCH',
      message: `the certificate is not valid for the relay's name "${fqdn}": it names ${identities.length > 0 ? identities.map((n) => `"${n}"`).join(', ') : 'no DNS name at all'}`,
    });
  }

  const notBefore = dateOf(leaf.validFrom);
  const notAfter = dateOf(leaf.validTo);
  if (now < notBefore.getTime()) {
    problems.push({ code: 'CERT_NOT_YET_VALID', message: `the certificate is not valid before ${notBefore.toISOString()} (check this machine's clock if that looks wrong)` });
  }
  if (now > notAfter.getTime()) {
    problems.push({ code: 'CERT_EXPIRED', message: `the certificate expired on ${notAfter.toISOString()}` });
  }

  const report: CertReport = {
    valid: problems.length === 0,
    subject: oneLineDn(leaf.subject),
    commonName: cn,
    dnsNames: names.dns,
    ipAddresses: names.ip,
    issuer: oneLineDn(leaf.issuer),
    chain: chain.map((c) => ({ subject: oneLineDn(c.subject), issuer: oneLineDn(c.issuer), notAfter: dateOf(c.validTo).toISOString() })),
    key: key.text,
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
    daysLeft: Math.floor((notAfter.getTime() - now) / DAY_MS),
    selfSigned,
    problems,
  };
  const served = chain.filter((c, i) => i === 0 || !isSelfIssued(c));
  return {
    report,
    keyPem: pfx.key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    chainPem: served.map((c) => c.toString()).join(''),
  };
}

/** The report as `cert check` prints it: facts first, then one line per problem. */
export function formatReport(r: CertReport, fqdn: string): string {
  const lines = [
    `subject     ${r.subject}`,
    `DNS names   ${r.dnsNames.join(', ') || '-'}`,
    ...(r.ipAddresses.length > 0 ? [`IP names    ${r.ipAddresses.join(', ')}`] : []),
    `issuer      ${r.issuer}`,
    `key         ${r.key}`,
    `valid       ${r.notBefore} → ${r.notAfter} (${r.daysLeft} days left)`,
    `chain`,
    ...r.chain.map((c, i) => `  ${i}: ${c.subject}  (issuer ${c.issuer}, until ${c.notAfter})`),
    `fqdn        ${fqdn}`,
  ];
  if (r.valid) lines.push('result      VALID');
  else {
    lines.push(`result      INVALID (${r.problems.length} problem${r.problems.length === 1 ? '' : 's'})`);
    for (const p of r.problems) lines.push(`  ${p.code}: ${p.message}`);
  }
  return lines.join('\n');
}
