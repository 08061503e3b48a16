import { afterEach, describe, expect, it } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, issueCert, toPfx } from '../../sim/pki.js';
import { CertificateManager } from '../../src/tls/certificate-manager.js';
import { createLogger } from '../../src/log.js';
import { LogCapture } from '../helpers/logs.js';
import { tempDir } from '../helpers/relay-config.js';

const FQDN = 'relay.unit.example';
const DAY = 86_400_000;

describe('certificate manager', () => {
  const dirs: string[] = [];
  const managers: CertificateManager[] = [];
  afterEach(() => {
    for (const m of managers.splice(0)) m.stop();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function manager(opts: { pfxFile?: string; pass?: string } = {}) {
    const dir = tempDir('certmgr-');
    dirs.push(dir);
    const logs = new LogCapture();
    const m = new CertificateManager({
      fqdn: FQDN,
      dataDir: dir,
      pfxFile: opts.pfxFile,
      pfxPassphrase: opts.pass,
      log: createLogger('debug', logs),
      clock: { now: () => Date.now() },
    });
    managers.push(m);
    return { m, logs, dir };
  }

  const root = createCa('cm root');
  const inter = createCa('cm inter', root);

  function pfxExpiringIn(days: number, dir: string): string {
    const leaf = issueCert({ cn: FQDN, dnsNames: [FQDN], issuer: inter, notAfter: new Date(Date.now() + days * DAY + 3600_000) });
    const file = join(dir, `leaf-${days}.pfx`);
    writeFileSync(file, toPfx(leaf, [inter, root], 'p'));
    return file;
  }

  it('falls back to a self-signed certificate for the FQDN, loudly, and reuses it after a restart', async () => {
    const { m, logs, dir } = manager();
    await m.init();
    expect(m.status()).toMatchObject({ subject: FQDN, sans: [FQDN], valid: false, selfSigned: true });
    expect(logs.find((l) => l.code === 'CERT_SELF_SIGNED' && l.level === 'warn')?.msg).toMatch(/Phones will NOT trust it/);
    expect(m.readiness()).toMatchObject({ ok: true, detail: expect.stringContaining('self-signed') });
    const again = new CertificateManager({ fqdn: FQDN, dataDir: dir, log: createLogger('silent'), clock: { now: () => Date.now() } });
    managers.push(again);
    await again.init();
    expect(again.current.report.notAfter).toBe(m.current.report.notAfter);
  });

  it('warns 30 days before expiry (log, heartbeat, readiness detail)', async () => {
    const dir = tempDir('certpfx-');
    dirs.push(dir);
    const { m, logs } = manager({ pfxFile: pfxExpiringIn(20, dir), pass: 'p' });
    await m.init();
    m.startWatching();
    expect(m.status().valid).toBe(true);
    expect(m.status().problems).toEqual([expect.stringMatching(/^CERT_EXPIRING: expires in 20 days/)]);
    expect(m.readiness()).toMatchObject({ ok: true, detail: expect.stringContaining('expires in 20 days') });
    expect(logs.find((l) => l.code === 'CERT_EXPIRING')).toMatchObject({ level: 'warn', daysLeft: 20 });
  });

  it('logs an error 7 days before expiry', async () => {
    const dir = tempDir('certpfx-');
    dirs.push(dir);
    const { m, logs } = manager({ pfxFile: pfxExpiringIn(5, dir), pass: 'p' });
    await m.init();
    m.startWatching();
    expect(logs.find((l) => l.code === 'CERT_EXPIRING')).toMatchObject({ level: 'error', daysLeft: 5 });
  });

  it('falls back to self-signed when the configured PFX cannot be opened, saying why', async () => {
    const dir = tempDir('certpfx-');
    dirs.push(dir);
    const { m, logs } = manager({ pfxFile: pfxExpiringIn(100, dir), pass: 'wrong' });
    await m.init();
    expect(m.current.source).toBe('self-signed');
    expect(logs.find((l) => l.code === 'PFX_WRONG_PASSPHRASE')?.level).toBe('error');
  });
});
