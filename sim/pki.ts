import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

/**
 * A throwaway PKI for simulators, tests, the demo and benchmarks: a root CA, optional
 * intermediates and leaf certificates, all generated in-process. Keys come from Node's
 * crypto (native, fast); node-forge only assembles and signs the certificates.
 */

export interface KeyedCert {
  readonly certPem: string;
  readonly keyPem: string;
  readonly cert: forge.pki.Certificate;
  readonly key: forge.pki.PrivateKey;
}

export interface IssueOptions {
  readonly cn: string;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** Extended key usages; default serverAuth. Empty array: no EKU extension. */
  readonly eku?: readonly ('serverAuth' | 'clientAuth' | 'codeSigning')[];
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly isCa?: boolean;
  readonly keyBits?: number;
  /** Issuer; self-signed when absent. */
  readonly issuer?: KeyedCert;
  /** Sign with this key instead of the subject's own (to build a mismatched pair in tests). */
  readonly organization?: string;
}

export function rsaKeyPair(bits = 2048): { publicKey: forge.pki.PublicKey; privateKey: forge.pki.PrivateKey; keyPem: string } {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: bits,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const key = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  const publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  return { publicKey, privateKey: key, keyPem: forge.pki.privateKeyToPem(key) };
}

export function issueCert(opts: IssueOptions): KeyedCert {
  const pair = rsaKeyPair(opts.keyBits ?? 2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = pair.publicKey;
  cert.serialNumber = '01' + randomBytes(8).toString('hex');
  const now = Date.now();
  cert.validity.notBefore = opts.notBefore ?? new Date(now - 60 * 60 * 1000);
  cert.validity.notAfter = opts.notAfter ?? new Date(now + 365 * 24 * 60 * 60 * 1000);
  const subject = [
    { name: 'commonName', value: opts.cn },
    { name: 'organizationName', value: opts.organization ?? 'cloud-relay test PKI' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(opts.issuer ? opts.issuer.cert.subject.attributes : subject);
  const extensions: object[] = [];
  if (opts.isCa) {
    extensions.push({ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true });
  } else {
    extensions.push({ name: 'basicConstraints', cA: false }, { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true });
    const eku = opts.eku ?? ['serverAuth'];
    if (eku.length > 0) extensions.push({ name: 'extKeyUsage', ...Object.fromEntries(eku.map((e) => [e, true])) });
    const alt = [...(opts.dnsNames ?? []).map((value) => ({ type: 2, value })), ...(opts.ipAddresses ?? []).map((ip) => ({ type: 7, ip }))];
    if (alt.length > 0) extensions.push({ name: 'subjectAltName', altNames: alt });
  }
  extensions.push({ name: 'subjectKeyIdentifier' });
  cert.setExtensions(extensions);
  const signer = opts.issuer?.key ?? pair.privateKey;
  cert.sign(signer as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { cert, key: pair.privateKey, certPem: forge.pki.certificateToPem(cert), keyPem: pair.keyPem };
}

export function createCa(cn = 'cloud-relay test root CA', issuer?: KeyedCert): KeyedCert {
  return issueCert({ cn, isCa: true, ...(issuer ? { issuer } : {}), notAfter: new Date(Date.now() + 10 * 365 * 24 * 3600 * 1000) });
}

/** PKCS#12 with the leaf first, then the chain, AES-256 (modern) unless legacy 3DES is asked for. */
export function toPfx(leaf: KeyedCert, chain: readonly KeyedCert[], passphrase: string, algorithm: 'aes256' | '3des' = 'aes256'): Buffer {
  const asn1 = forge.pkcs12.toPkcs12Asn1(leaf.key as forge.pki.rsa.PrivateKey, [leaf.cert, ...chain.map((c) => c.cert)], passphrase, { algorithm, friendlyName: 'cloud-relay' });
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
}

/** A server certificate for loopback simulators: valid for localhost, 127.0.0.1 and ::1. */
export function loopbackServerCert(ca: KeyedCert, cn = 'localhost', extraNames: readonly string[] = []): KeyedCert {
  return issueCert({ cn, dnsNames: ['localhost', ...extraNames], ipAddresses: ['127.0.0.1', '::1'], issuer: ca });
}
