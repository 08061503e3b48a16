import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/child.js';
import { tempDir } from '../helpers/relay-config.js';
import { createCa, issueCert } from '../../sim/pki.js';

const PEM_TO_PFX = 'openssl pkcs12 -export -in cert.pem -inkey key.pem -certfile chain.pem -out relay.pfx';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('cloud-relay cert check FILE --fqdn NAME (as the README shows it)', () => {
  let dir: string;

  beforeAll(() => {
    dir = tempDir('cr-cert-check-');
    const root = createCa('cert-check root CA');
    const inter = createCa('cert-check intermediate CA', root);
    const leaf = issueCert({ cn: 'relay.example.com', dnsNames: ['relay.example.com'], issuer: inter });
    writeFileSync(join(dir, 'cert.pem'), leaf.certPem);
    writeFileSync(join(dir, 'key.pem'), leaf.keyPem);
    writeFileSync(join(dir, 'chain.pem'), `${inter.certPem}${root.certPem}`);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a missing file is the catalogued "file not found" problem with exit 66 (EX_NOINPUT), not a raw ENOENT', async () => {
    const file = join(dir, 'relay.pfx');
    const r = await runCli(['cert', 'check', file, '--fqdn', 'relay.example.com']);
    expect(r.code).toBe(66);
    expect(r.stdout).toContain(`PFX_FILE_NOT_FOUND: file not found: ${file}`);
    expect(r.stdout + r.stderr).not.toContain('ENOENT');
  });

  it('a PEM certificate is named as such, with the openssl line that makes a PFX, and that line works', async () => {
    const r = await runCli(['cert', 'check', join(dir, 'cert.pem'), '--fqdn', 'relay.example.com']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('PFX_IS_PEM: this is a PEM certificate, not a PFX (PKCS#12) file');
    expect(r.stdout).toMatch(new RegExp(`^ {4}${PEM_TO_PFX.replace(/\./g, '\\.')}$`, 'm'));
    expect(r.stdout).not.toMatch(/PFX_CORRUPT|ASN\.1/);
    // A private key given by mistake is named too.
    const k = await runCli(['cert', 'check', join(dir, 'key.pem'), '--fqdn', 'relay.example.com']);
    expect(k.stdout).toMatch(/PFX_IS_PEM: this is a PEM file \((RSA )?PRIVATE KEY\), not a PFX/);

    if (!hasOpenssl()) return; // the advice itself needs the openssl tool; the messages above do not
    // The printed command, with the export password given on the command line instead of the prompt.
    execFileSync('openssl', [...PEM_TO_PFX.split(' ').slice(1), '-passout', 'pass:export-pass-1'], { cwd: dir, stdio: 'ignore' });
    writeFileSync(join(dir, 'pass.txt'), 'export-pass-1\n');
    const ok = await runCli(['cert', 'check', join(dir, 'relay.pfx'), '--fqdn', 'relay.example.com', '--passphrase-file', join(dir, 'pass.txt')]);
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.stdout).toMatch(/result\s+VALID/);
  }, 60_000);
});
