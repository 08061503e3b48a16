import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { createCa, issueCert, toPfx } from '../../sim/pki.js';
import { CertificateManager, type PassphraseSealer } from '../../src/tls/certificate-manager.js';
import { installedPath, readInstalled, writeInstalled } from '../../src/tls/cert-files.js';
import { SecretBox, isSealed } from '../../src/store/secret-box.js';
import { createLogger } from '../../src/log.js';
import { LogCapture } from '../helpers/logs.js';
import { tempDir } from '../helpers/relay-config.js';

/*
 * The installed PFX's passphrase (`<dataDir>/tls/installed-pfx.json`) is sealed at rest with
 * the store's secrets key: written sealed by cert.install, sealed in place when an older relay
 * or `cloud-relay cert install` left it in clear, and unusable (logged, not fatal) once the
 * key that sealed it is forgotten.
 */

const FQDN = 'relay.sealed.example';
const PASS = 'pfx-passphrase-4711';
const root = createCa('sealed root');
const pfx = toPfx(issueCert({ cn: FQDN, dnsNames: [FQDN], issuer: root }), [root], PASS);

function sealerOf(box: SecretBox): PassphraseSealer {
  return { seal: (v) => box.seal(v), open: (v) => box.open(v), isSealed };
}

describe('installed PFX passphrase at rest', () => {
  const dirs: string[] = [];
  const managers: CertificateManager[] = [];
  afterEach(() => {
    for (const m of managers.splice(0)) m.stop();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function manager(dir: string, box: SecretBox) {
    const logs = new LogCapture();
    const m = new CertificateManager({ fqdn: FQDN, dataDir: dir, log: createLogger('debug', logs), clock: { now: () => Date.now() }, sealer: sealerOf(box) });
    managers.push(m);
    return { m, logs };
  }

  const fileText = (dir: string) => readFileSync(installedPath(dir), 'utf8');

  it('cert.install writes it sealed, and a restart opens it', async () => {
    const dir = tempDir('sealed-pfx-');
    dirs.push(dir);
    const box = new SecretBox(randomBytes(32));
    const first = manager(dir, box);
    await first.m.init();
    first.m.install(pfx, PASS, 'dms');
    expect(fileText(dir)).not.toContain(PASS);
    expect(isSealed(readInstalled(dir)?.passphrase ?? '')).toBe(true);
    first.m.stop();
    const again = manager(dir, box);
    await again.m.init();
    expect(again.m.current.source).toBe('installed');
  });

  it('a cleartext file from an older relay (or the CLI) is used and sealed in place', async () => {
    const dir = tempDir('sealed-pfx-');
    dirs.push(dir);
    writeInstalled(dir, { pfx: pfx.toString('base64'), passphrase: PASS, installedAt: new Date().toISOString(), origin: 'cli' });
    expect(fileText(dir)).toContain(PASS);
    const { m, logs } = manager(dir, new SecretBox(randomBytes(32)));
    await m.init();
    expect(m.current.source).toBe('installed');
    expect(fileText(dir)).not.toContain(PASS);
    expect(logs.find((l) => /now sealed at rest/.test(String(l.msg)))).toBeDefined();
  });

  it('sealed with a key since forgotten: SECRETS_UNREADABLE logged, the relay falls back instead of failing', async () => {
    const dir = tempDir('sealed-pfx-');
    dirs.push(dir);
    const old = manager(dir, new SecretBox(randomBytes(32)));
    await old.m.init();
    old.m.install(pfx, PASS, 'dms');
    old.m.stop();
    const { m, logs } = manager(dir, new SecretBox(randomBytes(32)));
    await m.init();
    expect(m.current.source).toBe('self-signed');
    expect(logs.withCode('SECRETS_UNREADABLE')).toHaveLength(1);
  });
});
