import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extract } from 'tar';
import { Daemon } from '../../src/daemon/index.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { createCa, issueCert, toPfx } from '../../sim/pki.js';
import { CLI } from '../helpers/child.js';
import { waitFor } from '../helpers/wait.js';

const PIN = 'PIN-771133';
const PASS = 'pfx-pass-5566';

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // 'close', not 'exit': the last stdout chunks can be read after 'exit'.
    child.once('close', (code: number | null) => resolve({ code, stdout, stderr }));
  });
}

describe('cloud-relay diag', () => {
  let dir: string;
  let daemon: Daemon;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'relay-diag-'));
    const ca = createCa();
    const leaf = issueCert({ cn: 'relay.test', dnsNames: ['relay.test'], issuer: ca });
    writeFileSync(join(dir, 'relay.pfx'), toPfx(leaf, [ca], PASS));
    env = {
      // Port 9 refuses: the relay stays unregistered; diag must still collect everything.
      CLOUD_RELAY_DMS_URL: 'https://127.0.0.1:9/',
      CLOUD_RELAY_TENANT_ID: 't-diag',
      CLOUD_RELAY_PIN: PIN,
      CLOUD_RELAY_FQDN: 'relay.test',
      CLOUD_RELAY_DATA_DIR: join(dir, 'data'),
      CLOUD_RELAY_PFX_FILE: join(dir, 'relay.pfx'),
      CLOUD_RELAY_PFX_PASSPHRASE: PASS,
      CLOUD_RELAY_HTTPS_LISTEN: '127.0.0.1:0',
      CLOUD_RELAY_ADMIN_LISTEN: '127.0.0.1:0',
      CLOUD_RELAY_LOG_LEVEL: 'silent',
      // An outbound proxy with a password (port 9 refuses too): the password leaves in no file of the bundle.
      CLOUD_RELAY_OUTBOUND_PROXY_URL: 'http://relay:Pr0xyDiagPw@127.0.0.1:9',
    };
    daemon = new Daemon({ config: loadConfig({ env }), logger: createLogger('silent') });
    await daemon.start();
  });

  afterAll(async () => {
    await daemon?.stop('test done');
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes a private .tar.gz with every section and no secret in it', async () => {
    const out = join(dir, 'bundle.tar.gz');
    const r = await runCli(['diag', '--output', out, '--admin', `127.0.0.1:${daemon.addresses.admin!.port}`, '--log-lines', '50'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote ${out}`);
    expect(statSync(out).mode & 0o777).toBe(0o600);

    const x = join(dir, 'x');
    mkdirSync(x);
    await extract({ file: out, cwd: x });
    const [folder] = readdirSync(x);
    const root = join(x, folder!);
    const names = readdirSync(root).sort();
    for (const n of ['INDEX.txt', 'versions.json', 'config.json', 'status.json', 'readyz.json', 'metrics.txt', 'images.json', 'logs.txt', 'store.json', 'certificate.txt']) {
      expect(names, n).toContain(n);
    }
    const all = names.map((n) => readFileSync(join(root, n), 'utf8')).join('\n');
    expect(all).not.toContain(PIN);
    expect(all).not.toContain(PASS);
    expect(all).not.toContain('Pr0xyDiagPw');
    expect(all).toContain('http://relay:redacted@127.0.0.1:9');

    // The running relay's own view of its configuration, each value with its origin.
    const cfg = JSON.parse(readFileSync(join(root, 'config.json'), 'utf8')) as { dataDir: string; settings: { path: string; value?: unknown; source: string }[] };
    expect(cfg.dataDir).toBe(join(dir, 'data'));
    expect(cfg.settings).toEqual(
      expect.arrayContaining([
        { path: 'pin', value: '[redacted]', source: 'environment CLOUD_RELAY_PIN' },
        { path: 'pfxPassphrase', value: '[redacted]', source: 'environment CLOUD_RELAY_PFX_PASSPHRASE' },
        { path: 'tenantId', value: 't-diag', source: 'environment CLOUD_RELAY_TENANT_ID' },
      ]),
    );
    const versions = JSON.parse(readFileSync(join(root, 'versions.json'), 'utf8')) as Record<string, unknown>;
    expect(versions.node).toBe(process.versions.node);
    const store = JSON.parse(readFileSync(join(root, 'store.json'), 'utf8')) as { tables: Record<string, number>; files: Record<string, number | null> };
    expect(store.tables.kv).toBeGreaterThanOrEqual(1);
    expect(store.tables.schema_migrations).toBeGreaterThanOrEqual(1);
    expect(store.files['relay.db']).toBeGreaterThan(0);
    expect(readFileSync(join(root, 'metrics.txt'), 'utf8')).toContain('# TYPE cloud_relay_ready gauge');
    expect(readFileSync(join(root, 'certificate.txt'), 'utf8')).toMatch(/relay\.test[\s\S]*result\s+VALID/);
    // This sandbox has no journal for the unit: the bundle says so and where logs go instead.
    expect(readFileSync(join(root, 'logs.txt'), 'utf8').length).toBeGreaterThan(0);
  });

  it('still writes a bundle when the config is broken and no relay runs', async () => {
    const out = join(dir, 'broken.tar.gz');
    const r = await runCli(['diag', '--output', out, '--admin', '127.0.0.1:9'], { CLOUD_RELAY_DMS_URL: 'ftp://nope', CLOUD_RELAY_PIN: PIN });
    expect(r.code, r.stderr).toBe(0);
    // Present files are never called missing: the config file is there and lists its problems.
    expect(r.stdout).not.toContain('MISSING');
    expect(r.stdout).toMatch(/^problems +config-problems\.txt +\(the configuration in this shell has problems/m);
    expect(r.stdout).toMatch(/^unavailable +status\.unavailable\.txt +\(no relay answered at http:\/\/127\.0\.0\.1:9\/status/m);
    expect(r.stdout).toMatch(/^unavailable +logs\.txt +\(no relay log collected/m);
  });

  it('collects the log from the file a relay started as `cloud-relay start >> relay.log` writes to', async () => {
    const logFile = join(dir, 'started.log');
    const fd = openSync(logFile, 'a');
    const child = spawn(process.execPath, [CLI, 'start'], {
      env: { PATH: process.env.PATH ?? '', ...env, CLOUD_RELAY_DATA_DIR: join(dir, 'data-started'), CLOUD_RELAY_LOG_LEVEL: 'info' },
      stdio: ['ignore', fd, 'ignore'],
    });
    closeSync(fd);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const started = await waitFor(
        () =>
          readFileSync(logFile, 'utf8')
            .split('\n')
            .map((l) => (l.startsWith('{') ? (JSON.parse(l) as { msg?: string; admin?: { port: number } }) : {}))
            .find((l) => l.msg === 'cloud-relay started'),
        { timeoutMs: 20_000, message: 'the relay to log "cloud-relay started" to its file' },
      );
      const out = join(dir, 'started.tar.gz');
      const r = await runCli(['diag', '--output', out, '--admin', `127.0.0.1:${started.admin!.port}`], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`logs.txt  (last 2000 lines of ${logFile})`);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  }, 60_000);

  it('refuses bad options with EX_USAGE', async () => {
    expect((await runCli(['diag', '--log-lines', 'many'], env)).code).toBe(64);
    expect((await runCli(['diag', '--bogus'], env)).code).toBe(64);
  });
});
