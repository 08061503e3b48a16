import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { createCa, issueCert, toPfx, type KeyedCert } from '../../sim/pki.js';
import { inspectPfx, prepare } from '../../src/tls/certificate-manager.js';
import { CertificateRejected, PfxLoadError } from '../../src/tls/errors.js';
import { secureContextOptions } from '../../src/tls/server-options.js';

const FQDN = 'relay.corp.test';
const PASS = 'S3cret!';
const now = Date.now();

let root: KeyedCert;
let inter: KeyedCert;
let leaf: KeyedCert;

function codes(pfx: Buffer, fqdn = FQDN, pass = PASS): string[] {
  return inspectPfx(pfx, pass, fqdn, now).report.problems.map((p) => p.code);
}

function loadError(pfx: Buffer, pass: string): PfxLoadError {
  try {
    inspectPfx(pfx, pass, FQDN, now);
  } catch (err) {
    if (err instanceof PfxLoadError) return err;
    throw err;
  }
  throw new Error('expected a PfxLoadError');
}

beforeAll(() => {
  root = createCa('Corp Root CA');
  inter = createCa('Corp Issuing CA 1', root);
  leaf = issueCert({ cn: FQDN, dnsNames: [FQDN, 'relay2.corp.test'], issuer: inter });
});

describe('PFX validation', () => {
  it('accepts a complete, ordered chain and reports its facts', () => {
    const checked = inspectPfx(toPfx(leaf, [inter, root], PASS), PASS, FQDN, now);
    const r = checked.report;
    expect(r.problems).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.commonName).toBe(FQDN);
    expect(r.dnsNames).toEqual([FQDN, 'relay2.corp.test']);
    expect(r.chain.map((c) => c.subject)).toEqual([expect.stringContaining(FQDN), expect.stringContaining('Issuing CA'), expect.stringContaining('Root CA')]);
    expect(r.key).toBe('RSA 2048 bits');
    expect(r.daysLeft).toBeGreaterThan(300);
    // The served chain leaves the root out and is usable by OpenSSL.
    expect(checked.chainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect(() => createSecureContext(secureContextOptions(checked.keyPem, checked.chainPem))).not.toThrow();
  });

  it('loads legacy 3DES-encrypted PFX files', () => {
    const pfx = toPfx(leaf, [inter, root], PASS, '3des');
    expect(inspectPfx(pfx, PASS, FQDN, now).report.valid).toBe(true);
  });

  it('tells a wrong passphrase from a corrupt file', () => {
    const pfx = toPfx(leaf, [inter, root], PASS);
    expect(loadError(pfx, 'nope').code).toBe('PFX_WRONG_PASSPHRASE');
    expect(loadError(Buffer.from('this is not a pfx at all'), PASS).code).toBe('PFX_CORRUPT');
    expect(loadError(pfx.subarray(0, pfx.length / 2), PASS).code).toBe('PFX_CORRUPT');
  });

  it('flags a missing intermediate or root', () => {
    expect(codes(toPfx(leaf, [inter], PASS))).toEqual(['CHAIN_INCOMPLETE']);
    expect(codes(toPfx(leaf, [root], PASS))).toEqual(['CHAIN_INCOMPLETE']);
  });

  it('flags certificates out of order', () => {
    expect(codes(toPfx(leaf, [root, inter], PASS))).toEqual(['CHAIN_ORDER']);
  });

  it('flags an issuer with the right name but the wrong key', () => {
    const impostor = createCa('Corp Issuing CA 1', root);
    expect(codes(toPfx(leaf, [impostor, root], PASS))).toEqual(['CHAIN_BROKEN', 'CHAIN_INCOMPLETE']);
  });

  it('flags a missing serverAuth EKU, with an admin-readable message', () => {
    const noEku = issueCert({ cn: FQDN, dnsNames: [FQDN], issuer: inter, eku: [] });
    const clientOnly = issueCert({ cn: FQDN, dnsNames: [FQDN], issuer: inter, eku: ['clientAuth'] });
    const r = inspectPfx(toPfx(noEku, [inter, root], PASS), PASS, FQDN, now).report;
    expect(r.problems).toEqual([{ code: 'EKU_NO_SERVER_AUTH', message: 'the certificate has no Server Authentication EKU (1.3.6.1.5.5.7.3.1)' }]);
    expect(codes(toPfx(clientOnly, [inter, root], PASS))).toEqual(['EKU_NO_SERVER_AUTH']);
  });

  it('matches the FQDN against CN or DNS SAN, wildcards per RFC 6125', () => {
    const wild = issueCert({ cn: 'Corp relays', dnsNames: ['*.corp.test'], issuer: inter });
    const pfx = toPfx(wild, [inter, root], PASS);
    expect(codes(pfx, 'relay.corp.test')).toEqual([]);
    expect(codes(pfx, 'a.relay.corp.test')).toEqual(['FQDN_MISMATCH']);
    expect(codes(pfx, 'corp.test')).toEqual(['FQDN_MISMATCH']);
    const cnOnly = issueCert({ cn: FQDN, issuer: inter });
    expect(codes(toPfx(cnOnly, [inter, root], PASS))).toEqual([]);
    expect(codes(toPfx(leaf, [inter, root], PASS), 'other.corp.test')).toEqual(['FQDN_MISMATCH']);
  });

  it('refuses IP addresses as identity', () => {
    const withIp = issueCert({ cn: FQDN, dnsNames: [FQDN], ipAddresses: ['127.0.0.1'], issuer: inter });
    expect(codes(toPfx(withIp, [inter, root], PASS))).toEqual(['IP_IDENTITY']);
    const ipCn = issueCert({ cn: '127.0.0.9', dnsNames: [FQDN], issuer: inter });
    expect(codes(toPfx(ipCn, [inter, root], PASS))).toEqual(['IP_IDENTITY']);
  });

  it('checks the validity dates', () => {
    const expired = issueCert({ cn: FQDN, dnsNames: [FQDN], issuer: inter, notBefore: new Date(now - 100 * 86_400_000), notAfter: new Date(now - 86_400_000) });
    const future = issueCert({ cn: FQDN, dnsNames: [FQDN], issuer: inter, notBefore: new Date(now + 86_400_000), notAfter: new Date(now + 100 * 86_400_000) });
    expect(codes(toPfx(expired, [inter, root], PASS))).toEqual(['CERT_EXPIRED']);
    expect(codes(toPfx(future, [inter, root], PASS))).toEqual(['CERT_NOT_YET_VALID']);
  });

  it('checks that the key belongs to the certificate', () => {
    const other = issueCert({ cn: FQDN, dnsNames: [FQDN], issuer: inter });
    expect(codes(toPfx({ ...leaf, key: other.key }, [inter, root], PASS))).toEqual(['KEY_MISMATCH']);
  });

  it('refuses RSA keys under 2048 bits', () => {
    const weak = issueCert({ cn: FQDN, dnsNames: [FQDN], issuer: inter, keyBits: 1024 });
    const r = inspectPfx(toPfx(weak, [inter, root], PASS), PASS, FQDN, now).report;
    expect(r.problems).toEqual([{ code: 'KEY_TOO_WEAK', message: 'the key is RSA 1024 bits; at least 2048 bits are required' }]);
  });

  it('lists every problem at once, and install refuses it with all of them', () => {
    const bad = issueCert({ cn: 'www.elsewhere.test', issuer: inter, eku: ['clientAuth'], notBefore: new Date(now - 100 * 86_400_000), notAfter: new Date(now - 86_400_000) });
    const pfx = toPfx(bad, [inter], PASS);
    expect(codes(pfx).sort()).toEqual(['CERT_EXPIRED', 'CHAIN_INCOMPLETE', 'EKU_NO_SERVER_AUTH', 'FQDN_MISMATCH']);
    let refused: unknown;
    try {
      prepare(pfx, PASS, FQDN, now);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(CertificateRejected);
    expect((refused as CertificateRejected).problems).toHaveLength(4);
  });

  it('flags a self-signed certificate', () => {
    const self = issueCert({ cn: FQDN, dnsNames: [FQDN] });
    expect(codes(toPfx(self, [], PASS))).toEqual(['CERT_SELF_SIGNED']);
  });
});

describe('PFX files made by OpenSSL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tls-openssl-'));
  let haveOpenssl = true;
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    haveOpenssl = false;
  }
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });

  it.skipIf(!haveOpenssl)('reads an EC P-256 PFX (modern AES/PBES2) and an RC2-40 "-legacy" one', () => {
    writeFileSync(join(dir, 'inter.pem'), inter.certPem);
    writeFileSync(join(dir, 'inter.key'), inter.keyPem);
    writeFileSync(join(dir, 'root.pem'), root.certPem);
    writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=DNS:${FQDN}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
    openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ec.key');
    openssl('req', '-new', '-key', 'ec.key', '-subj', `/CN=${FQDN}`, '-out', 'ec.csr');
    openssl('x509', '-req', '-in', 'ec.csr', '-CA', 'inter.pem', '-CAkey', 'inter.key', '-CAcreateserial', '-days', '30', '-extfile', 'ext.cnf', '-out', 'ec.pem');
    writeFileSync(join(dir, 'chain.pem'), inter.certPem + root.certPem);
    openssl('pkcs12', '-export', '-in', 'ec.pem', '-inkey', 'ec.key', '-certfile', 'chain.pem', '-out', 'ec.pfx', '-passout', `pass:${PASS}`);
    const modern = inspectPfx(readFileSync(join(dir, 'ec.pfx')), PASS, FQDN, Date.now() + 5000).report;
    expect(modern.key).toBe('EC P-256');
    expect(modern.problems).toEqual([]);

    writeFileSync(join(dir, 'rsa.key'), leaf.keyPem);
    writeFileSync(join(dir, 'rsa.pem'), leaf.certPem);
    openssl('pkcs12', '-export', '-legacy', '-in', 'rsa.pem', '-inkey', 'rsa.key', '-certfile', 'chain.pem', '-out', 'legacy.pfx', '-passout', `pass:${PASS}`);
    const legacy = readFileSync(join(dir, 'legacy.pfx'));
    expect(() => createSecureContext({ pfx: legacy, passphrase: PASS })).toThrow();
    expect(inspectPfx(legacy, PASS, FQDN, now).report.problems).toEqual([]);
    expect(loadError(legacy, 'wrong').code).toBe('PFX_WRONG_PASSPHRASE');
  });
});
