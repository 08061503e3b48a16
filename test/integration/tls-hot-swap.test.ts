import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHash, X509Certificate } from 'node:crypto';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type ConnectionOptions } from 'node:tls';
import { createCa, issueCert, toPfx } from '../../sim/pki.js';
import { firmwareBody, startProvisioningSimulator, type ProvisioningSimulator } from '../../sim/provisioning/index.js';
import { command as certCommand } from '../../src/cli/cert.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { tempDir } from '../helpers/relay-config.js';
import { waitFor } from '../helpers/wait.js';
import { PFX_PASS, RELAY_FQDN, basicAuth, phoneClient, relayPki } from '../helpers/phone-client.js';

/** Fingerprint of the certificate a fresh TLS handshake with the relay gets. */
function servedFingerprint(port: number, caPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const tlsOpts: ConnectionOptions & { localAddress: string } = { host: '127.0.0.1', port, ca: caPem, servername: RELAY_FQDN, localAddress: '127.20.2.9' };
    const s = connect(tlsOpts, () => {
      const fp = s.getPeerX509Certificate()!.fingerprint256;
      s.end();
      resolve(fp);
    });
    s.on('error', reject);
  });
}

async function certCli(...args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  const err = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    return { code: await certCommand.run(args), out: lines.join('\n') };
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

describe('certificate hot swap', () => {
  const root = createCa('hot swap test root');
  const dir = tempDir('hotswap-');
  const pki = relayPki(dir, root);
  let prov: ProvisioningSimulator;
  let h: Harness;
  let port: number;
  let relayId: string;

  beforeAll(async () => {
    prov = await startProvisioningSimulator({ ca: root });
    h = await startHarness({ sim: { ca: root, provisioningUrl: prov.url, heartbeatIntervalSeconds: 1 }, relayConfig: { pfxFile: pki.pfxFile, pfxPassphrase: PFX_PASS } });
    relayId = await h.connected();
    port = h.daemon.addresses.https!.port;
  });

  afterAll(async () => {
    await h?.close();
    await prov?.close();
  });

  it('serves the configured PFX and reports it in status and readiness', async () => {
    expect(await servedFingerprint(port, root.certPem)).toBe(new X509Certificate(pki.leaf.certPem).fingerprint256);
    expect(h.daemon.statusDocument().cert).toMatchObject({ subject: RELAY_FQDN, sans: [RELAY_FQDN], valid: true, selfSigned: false });
    expect(h.daemon.adminServer.readiness().checks.find((c) => c.name === 'phone-cert')).toEqual({ name: 'phone-cert', ok: true });
  });

  it('offers TLS 1.2+ only, and resumes sessions', async () => {
    const attempt = (opts: { maxVersion?: 'TLSv1.1' | 'TLSv1.2'; ciphers?: string; session?: Buffer }) =>
      new Promise<{ reused: boolean; session: Buffer | undefined; version: string | null }>((resolve, reject) => {
        let session: Buffer | undefined;
        const tlsOpts: ConnectionOptions & { localAddress: string } = {
          host: '127.0.0.1',
          port,
          ca: root.certPem,
          servername: RELAY_FQDN,
          localAddress: '127.20.2.8',
          ...opts,
          ...(opts.maxVersion === 'TLSv1.1' ? { minVersion: 'TLSv1' as const } : {}),
        };
        const s = connect(tlsOpts);
        s.on('session', (sess: Buffer) => (session = sess));
        s.once('secureConnect', () => {
          const r = { reused: s.isSessionReused(), version: s.getProtocol() };
          // TLS 1.3 tickets arrive after the handshake; give them one round trip.
          s.write('GET / HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n');
          s.on('data', () => undefined);
          s.once('close', () => resolve({ ...r, session }));
        });
        s.once('error', reject);
      });
    await expect(attempt({ maxVersion: 'TLSv1.1' })).rejects.toThrow();
    // CBC suites are not offered: a TLS 1.2 client with only CBC cannot connect.
    await expect(attempt({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384' })).rejects.toThrow();
    expect((await attempt({ maxVersion: 'TLSv1.2' })).version).toBe('TLSv1.2');
    const first = await attempt({});
    expect(first.version).toMatch(/^TLSv1\.[23]$/);
    expect(first.session).toBeDefined();
    const second = await attempt({ session: first.session! });
    expect(second.reused).toBe(true);
  });

  it('swaps in a cert.install from the DMS during a download without cutting it', async () => {
    // Made before the download starts: a key pair takes a while on a loaded machine, and the
    // swap must land while the download runs (32 chunks, 100 ms apart: about 3 s).
    const renewed = issueCert({ cn: RELAY_FQDN, dnsNames: [RELAY_FQDN, 'relay-b.test.example'], issuer: pki.inter });
    const renewedPfx = toPfx(renewed, [pki.inter, root], 'new-pass').toString('base64');
    const big = firmwareBody(2 * 1024 * 1024, 3);
    prov.setFile('big.cfg', big);
    prov.behave('/big.cfg', { chunkBytes: 64 * 1024, intervalMs: 100 });
    const phone = phoneClient(port, root.certPem, '127.20.2.1');
    const res = await phone.request({ method: 'GET', path: '/big.cfg', headers: { authorization: basicAuth() } });
    expect(res.statusCode).toBe(200);
    const hash = createHash('sha256');
    let received = 0;
    const firstBytes = new Promise<void>((resolve) => {
      res.body.on('data', (c: Buffer) => {
        hash.update(c);
        received += c.length;
        resolve();
      });
    });
    const done = new Promise<void>((resolve, reject) => {
      res.body.on('end', resolve);
      res.body.on('error', reject);
    });
    await firstBytes;

    const frameId = h.sim.sendFrame(relayId, { type: 'cert.install', pfx: renewedPfx, passphrase: 'new-pass' });
    expect(await waitFor(() => h.sim.answer(relayId, frameId))).toBe('ack');
    expect(received).toBeLessThan(big.length);

    expect(await servedFingerprint(port, root.certPem)).toBe(new X509Certificate(renewed.certPem).fingerprint256);
    await done;
    expect(received).toBe(big.length);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
    await phone.close();

    const stored = join(h.dataDir, 'tls', 'installed-pfx.json');
    expect(statSync(stored).mode & 0o777).toBe(0o600);
    expect(h.daemon.statusDocument().cert).toMatchObject({ sans: [RELAY_FQDN, 'relay-b.test.example'], valid: true });
    // The DMS learns about the new certificate from the next heartbeat.
    await waitFor(
      () => {
        const cert = h.sim.heartbeats(relayId).at(-1)?.body.cert as { sans?: string[]; valid?: boolean } | undefined;
        return cert?.valid === true && cert.sans?.includes('relay-b.test.example');
      },
      { message: 'heartbeat with the new certificate' },
    );
  });

  it('refuses an invalid cert.install with every reason and keeps the current certificate', async () => {
    const before = await servedFingerprint(port, root.certPem);
    const bad = issueCert({ cn: 'other.example', issuer: pki.inter, eku: ['clientAuth'] });
    const frameId = h.sim.sendFrame(relayId, { type: 'cert.install', pfx: toPfx(bad, [pki.inter, root], 'x').toString('base64'), passphrase: 'x' });
    const answer = await waitFor(() => h.sim.answer(relayId, frameId));
    expect(answer).toMatch(/^nack: /);
    expect(answer).toContain('EKU_NO_SERVER_AUTH');
    expect(answer).toContain('FQDN_MISMATCH');
    const wrongPass = h.sim.sendFrame(relayId, { type: 'cert.install', pfx: toPfx(bad, [pki.inter, root], 'x').toString('base64'), passphrase: 'y' });
    expect(await waitFor(() => h.sim.answer(relayId, wrongPass))).toMatch(/passphrase is wrong/);
    expect(await servedFingerprint(port, root.certPem)).toBe(before);
  });

  it('cert check prints the report and exits 0 only for a valid PFX; cert install hot-swaps the running relay', async () => {
    const passFile = join(dir, 'pass.txt');
    writeFileSync(passFile, `${PFX_PASS}\n`);
    const ok = await certCli('check', pki.pfxFile, '--fqdn', RELAY_FQDN, '--passphrase-file', passFile);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain(`subject     CN=${RELAY_FQDN}`);
    expect(ok.out).toContain('result      VALID');
    const wrongName = await certCli('check', pki.pfxFile, '--fqdn', 'elsewhere.example', '--passphrase-file', passFile);
    expect(wrongName.code).toBe(1);
    expect(wrongName.out).toMatch(/FQDN_MISMATCH: the certificate is not valid for the relay's name "elsewhere.example"/);
    const badPass = await certCli('check', pki.pfxFile, '--fqdn', RELAY_FQDN);
    expect(badPass.code).toBe(1);
    expect(badPass.out).toContain('PFX_WRONG_PASSPHRASE');

    const third = issueCert({ cn: RELAY_FQDN, dnsNames: [RELAY_FQDN], issuer: pki.inter });
    const thirdFile = join(dir, 'third.pfx');
    writeFileSync(thirdFile, toPfx(third, [pki.inter, root], PFX_PASS, '3des'));
    const install = await certCli('install', thirdFile, '--fqdn', RELAY_FQDN, '--data-dir', h.dataDir, '--passphrase-file', passFile);
    expect(install.code).toBe(0);
    const want = new X509Certificate(third.certPem).fingerprint256;
    await waitFor(async () => (await servedFingerprint(port, root.certPem)) === want, { timeoutMs: 8_000, intervalMs: 200, message: 'CLI-installed certificate served' });
  });
});
