import { afterEach, describe, expect, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, issueCert, toPfx } from '../../sim/pki.js';
import { CertificateManager, type PassphraseSealer } from '../../src/tls/certificate-manager.js';
import { installedPath, readInstalled, writeInstalled } from '../../src/tls/cert-files.js';
import { SecretBox, defaultKeyFile, isSealed, parseKey } from '../../src/store/secret-box.js';
import { openDb } from '../../src/store/db.js';
import { secretsOf } from '../../src/store/secrets.js';
import { command as certCommand } from '../../src/cli/cert.js';
import { createLogger } from '../../src/log.js';
import { LogCapture } from '../helpers/logs.js';
import { tempDir } from '../helpers/relay-config.js';

/*
 * The installed PFX's passphrase (`<dataDir>/tls/installed-pfx.json`) is sealed at rest with
 * the store's secrets key: written sealed by cert.install and by `cloud-relay cert install`
 * (which refuses, writing nothing, when it cannot reach the relay's key), sealed in place when an
 * older relay or CLI left it in clear, and unusable (logged, not fatal) once the key that sealed
 * it is forgotten.
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

  async function certInstall(dir: string, cleanup: string[]): Promise<{ code: number; out: string }> {
    const passFile = join(dir, '..', `${dir.split('/').pop()}-pass.txt`);
    writeFileSync(passFile, `${PASS}\n`);
    const pfxFile = join(dir, '..', `${dir.split('/').pop()}.pfx`);
    writeFileSync(pfxFile, pfx);
    cleanup.push(passFile, pfxFile);
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    const err = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    try {
      const code = await certCommand.run(['install', pfxFile, '--fqdn', FQDN, '--data-dir', dir, '--passphrase-file', passFile]);
      return { code, out: lines.join('\n') };
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  }

  it('cloud-relay cert install writes it sealed with the key the relay will use, before its first start and after', async () => {
    const before = tempDir('sealed-cli-');
    dirs.push(before, join(before, '..', `${before.split('/').pop()}-keys`));
    const r = await certInstall(before, dirs);
    expect(r.code).toBe(0);
    expect(fileText(before)).not.toContain(PASS);
    expect(isSealed(readInstalled(before)?.passphrase ?? '')).toBe(true);
    // The key was created where the relay looks for it, and opens the certificate.
    const key = parseKey(readFileSync(defaultKeyFile(before)), defaultKeyFile(before));
    const { m } = manager(before, new SecretBox(key));
    await m.init();
    expect(m.current.source).toBe('installed');

    // A relay that has run: the database names its key, and that key seals it.
    const after = tempDir('sealed-cli-');
    dirs.push(after, join(after, '..', `${after.split('/').pop()}-keys`));
    const db = openDb(after);
    const box = secretsOf(db);
    db.close();
    expect((await certInstall(after, dirs)).code).toBe(0);
    expect(fileText(after)).not.toContain(PASS);
    expect(box.open(readInstalled(after)?.passphrase ?? '')).toBe(PASS);
  });

  it("cloud-relay cert install without the relay's key: refused, nothing written in clear", async () => {
    const dir = tempDir('sealed-cli-');
    const keys = join(dir, '..', `${dir.split('/').pop()}-keys`);
    dirs.push(dir, keys);
    const db = openDb(dir);
    secretsOf(db);
    db.close();
    rmSync(keys, { recursive: true, force: true });
    const r = await certInstall(dir, dirs);
    expect(r.code).toBe(78);
    expect(r.out).toMatch(/refused, nothing was stored: .*SECRETS_KEY_MISSING/);
    expect(existsSync(installedPath(dir))).toBe(false);
  });
});
