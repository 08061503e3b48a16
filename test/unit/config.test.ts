import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { effectiveSettings, loadConfig, redactedConfig } from '../../src/config/load.js';
import { allSettings, envName } from '../../src/config/settings.js';
import { ConfigError, ExitCode } from '../../src/errors.js';
import { dmsTrustedCa } from '../../src/dms/trust.js';
import { CLI } from '../helpers/child.js';

const REQUIRED = { dmsUrl: 'https://dms.example.com/', tenantId: 't-1', pin: '493027', fqdn: 'relay.example.com' };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'relay-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

function problemsOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config precedence: command line > environment > file > defaults', () => {
  const cfgFile = () => file('precedence.json', { ...REQUIRED, logLevel: 'debug', proxy: { maxUploadBytes: 1000 } });

  it('uses the default when nothing sets a value', () => {
    const cfg = loadConfig({ env: {}, overrides: REQUIRED });
    expect(cfg.logLevel).toBe('info');
    expect(cfg.proxy.maxUploadBytes).toBe(50 * 1024 * 1024);
    expect(cfg.adminListen).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(cfg.cacheDir).toBe(join(cfg.dataDir, 'cache'));
  });

  it('file beats defaults, environment beats file, command line beats environment', () => {
    const f = cfgFile();
    expect(loadConfig({ file: f, env: {} }).logLevel).toBe('debug');
    const env = { CLOUD_RELAY_LOG_LEVEL: 'warn', CLOUD_RELAY_PROXY_MAX_UPLOAD_BYTES: '2000' };
    const fromEnv = loadConfig({ file: f, env });
    expect(fromEnv.logLevel).toBe('warn');
    expect(fromEnv.proxy.maxUploadBytes).toBe(2000);
    const fromCli = loadConfig({ file: f, env, overrides: { logLevel: 'error', 'proxy.maxUploadBytes': 3000 } });
    expect(fromCli.logLevel).toBe('error');
    expect(fromCli.proxy.maxUploadBytes).toBe(3000);
  });

  it('finds the file through CLOUD_RELAY_CONFIG', () => {
    expect(loadConfig({ env: { CLOUD_RELAY_CONFIG: cfgFile() } }).logLevel).toBe('debug');
  });

  it('gives every setting an environment variable derived from its path', () => {
    const names = allSettings().map((s) => s.env);
    expect(new Set(names).size).toBe(names.length);
    expect(envName('ipGuard.banSeconds')).toBe('CLOUD_RELAY_IP_GUARD_BAN_SECONDS');
    for (const s of allSettings()) expect(s.env).toMatch(/^CLOUD_RELAY_[A-Z0-9_]+$/);
    for (const required of [
      'CLOUD_RELAY_DMS_URL',
      'CLOUD_RELAY_DMS_CA_FILE',
      'CLOUD_RELAY_TENANT_ID',
      'CLOUD_RELAY_PIN',
      'CLOUD_RELAY_PIN_FILE',
      'CLOUD_RELAY_FQDN',
      'CLOUD_RELAY_DATA_DIR',
      'CLOUD_RELAY_HTTPS_LISTEN',
      'CLOUD_RELAY_ADMIN_LISTEN',
      'CLOUD_RELAY_LOG_LEVEL',
    ]) {
      expect(names).toContain(required);
    }
  });
});

describe('config validation', () => {
  it('reports every bad field at once, each with its path', () => {
    const f = file('bad.json', {
      dmsUrl: 'http://dms.example.com/',
      tenantId: '',
      fqdn: 'not a name',
      httpsListen: 'nowhere',
      logLevel: 'loud',
      proxy: { maxUploadBytes: 'lots' },
      ipGuard: { maxFailures: 0 },
      tennantId: 'typo',
    });
    const problems = problemsOf(() => loadConfig({ file: f, env: {} }));
    const paths = problems.map((p) => p.path);
    for (const p of ['dmsUrl', 'tenantId', 'fqdn', 'httpsListen', 'logLevel', 'proxy.maxUploadBytes', 'ipGuard.maxFailures', 'tennantId']) {
      expect(paths, p).toContain(p);
    }
    expect(problems.find((p) => p.path === 'dmsUrl')?.message).toMatch(/https/);
    expect(problems.find((p) => p.path === 'tennantId')?.message).toMatch(/unknown setting/);
    expect(problems.find((p) => p.path === 'proxy.maxUploadBytes')?.message).toMatch(/not a number/);
  });

  it('dmsCaFile: a missing file or one without a PEM certificate is a ConfigError naming the setting', () => {
    const missing = problemsOf(() => dmsTrustedCa(join(dir, 'no-such-ca.pem')));
    expect(missing).toEqual([{ path: 'dmsCaFile', message: expect.stringMatching(/cannot read .*no-such-ca\.pem/) }]);
    const notPem = problemsOf(() => dmsTrustedCa(file('key.pem', '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n')));
    expect(notPem).toEqual([{ path: 'dmsCaFile', message: expect.stringMatching(/holds no PEM certificate/) }]);
  });

  it('refuses a dmsUrl with a user name or password in it, without echoing it', () => {
    const problems = problemsOf(() => loadConfig({ env: {}, overrides: { ...REQUIRED, dmsUrl: 'https://admin:s3cret-pw@dms.example.com/' } }));
    expect(problems).toEqual([{ path: 'dmsUrl', message: 'must not carry a user name or password' }]);
  });

  it('names a misspelt key inside a settings group instead of dropping it', () => {
    const f = file('nested-typo.json', { ...REQUIRED, proxy: { maxUploadByts: 10 }, cache: { quotaBytes: 5 } });
    const problems = problemsOf(() => loadConfig({ file: f, env: {} }));
    expect(problems).toEqual([{ path: 'proxy.maxUploadByts', message: expect.stringMatching(/unknown setting/) }]);
  });

  it('names the environment variable of a missing required setting', () => {
    const problems = problemsOf(() => loadConfig({ env: {}, overrides: { tenantId: 't', pin: '1', fqdn: 'r.example.com' } }));
    expect(problems).toEqual([{ path: 'dmsUrl', message: expect.stringContaining('CLOUD_RELAY_DMS_URL') }]);
  });

  it('reports an unreadable or malformed file as a problem, not a crash', () => {
    expect(problemsOf(() => loadConfig({ file: join(dir, 'missing.json'), env: {}, overrides: REQUIRED }))[0]?.message).toMatch(/cannot read/);
    expect(problemsOf(() => loadConfig({ file: file('broken.json', '{ nope'), env: {}, overrides: REQUIRED }))[0]?.message).toMatch(/not valid JSON/);
  });
});

describe('load balancer settings', () => {
  it('PROXY protocol is off by default and without a drain delay', () => {
    expect(loadConfig({ env: {}, overrides: REQUIRED }).lb).toEqual({ proxyProtocol: false, trustedProxies: [], drainDelaySeconds: 0 });
  });

  it('reads the environment: a boolean, a CIDR list, and a 10 s drain delay behind a PROXY balancer unless set', () => {
    const env = { CLOUD_RELAY_LB_PROXY_PROTOCOL: 'true', CLOUD_RELAY_LB_TRUSTED_PROXIES: '203.0.113.0/28, 2001:db8::5' };
    expect(loadConfig({ env, overrides: REQUIRED }).lb).toEqual({ proxyProtocol: true, trustedProxies: ['203.0.113.0/28', '2001:db8::5'], drainDelaySeconds: 10 });
    expect(loadConfig({ env: { ...env, CLOUD_RELAY_LB_DRAIN_DELAY_SECONDS: '0' }, overrides: REQUIRED }).lb.drainDelaySeconds).toBe(0);
    expect(loadConfig({ env: { CLOUD_RELAY_LB_DRAIN_DELAY_SECONDS: '35' }, overrides: REQUIRED }).lb.drainDelaySeconds).toBe(35);
  });

  it('names a bad range, and refuses PROXY protocol with nobody trusted', () => {
    const bad = problemsOf(() => loadConfig({ env: { CLOUD_RELAY_LB_TRUSTED_PROXIES: '203.0.113.0/24,lb.example.com' }, overrides: REQUIRED }));
    expect(bad).toEqual([{ path: 'lb.trustedProxies.1', message: expect.stringMatching(/"lb.example.com" is not an IP address or CIDR range/) }]);
    const none = problemsOf(() => loadConfig({ env: { CLOUD_RELAY_LB_PROXY_PROTOCOL: 'true' }, overrides: REQUIRED }));
    expect(none).toEqual([{ path: 'lb.trustedProxies', message: expect.stringMatching(/must list the load balancers/) }]);
  });
});

describe('secrets', () => {
  it('reads the PIN and the PFX passphrase from files (trimmed)', () => {
    const pinFile = file('pin', '765432\n');
    const passFile = file('pass', 's3cret pass\n');
    const cfg = loadConfig({ env: { CLOUD_RELAY_PIN_FILE: pinFile, CLOUD_RELAY_PFX_PASSPHRASE_FILE: passFile }, overrides: { ...REQUIRED, pin: undefined } });
    expect(cfg.pin).toBe('765432');
    expect(cfg.pfxPassphrase).toBe('s3cret pass');
    expect(Object.keys(cfg)).not.toContain('pinFile');
  });

  it('reports an unreadable secret file at its own path', () => {
    const problems = problemsOf(() => loadConfig({ env: { CLOUD_RELAY_PIN_FILE: join(dir, 'no-such-pin') }, overrides: { ...REQUIRED, pin: undefined } }));
    expect(problems.map((p) => p.path)).toEqual(['pinFile']);
  });

  it('redacts secrets in the effective config', () => {
    const cfg = loadConfig({ env: {}, overrides: { ...REQUIRED, pfxPassphrase: 'pfx-pass-123' } });
    const text = JSON.stringify(redactedConfig(cfg));
    expect(text).not.toContain('493027');
    expect(text).not.toContain('pfx-pass-123');
    expect(redactedConfig(cfg)).toMatchObject({ pin: '[redacted]', pfxPassphrase: '[redacted]', adminListen: '127.0.0.1:9090' });
  });
});

describe('cloud-relay config (built CLI)', () => {
  const run = (args: string[], env: Record<string, string>) =>
    spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 });

  it('exits 78 (EX_CONFIG) and lists every problem for a bad config', () => {
    const r = run(['config', '--config', file('cli-bad.json', { dmsUrl: 'ftp://x', tenantId: '' })], {});
    expect(r.status).toBe(ExitCode.CONFIG);
    expect(r.stderr).toMatch(/dmsUrl/);
    expect(r.stderr).toMatch(/tenantId/);
    expect(r.stderr).toMatch(/fqdn/);
  });

  // Port 9 refuses on loopback: no running relay answers, so the command reports this shell's configuration.
  const NO_RELAY = { CLOUD_RELAY_ADMIN_LISTEN: '127.0.0.1:9' };

  it('prints the effective config with secrets redacted (--json)', () => {
    const r = run(['config', '--json'], {
      ...NO_RELAY,
      CLOUD_RELAY_DMS_URL: REQUIRED.dmsUrl,
      CLOUD_RELAY_TENANT_ID: 't-9',
      CLOUD_RELAY_PIN: '918273',
      CLOUD_RELAY_FQDN: REQUIRED.fqdn,
      CLOUD_RELAY_PFX_PASSPHRASE: 'hunter2-pass',
    });
    expect(r.status, r.stderr).toBe(ExitCode.OK);
    expect(r.stdout).not.toContain('918273');
    expect(r.stdout).not.toContain('hunter2-pass');
    const printed = JSON.parse(r.stdout) as { settings: { path: string; value?: unknown; source: string }[] };
    const byPath = Object.fromEntries(printed.settings.map((s) => [s.path, s]));
    expect(byPath.tenantId).toEqual({ path: 'tenantId', value: 't-9', source: 'environment CLOUD_RELAY_TENANT_ID' });
    expect(byPath.pin).toEqual({ path: 'pin', value: '[redacted]', source: 'environment CLOUD_RELAY_PIN' });
    expect(byPath.pfxPassphrase?.value).toBe('[redacted]');
  });

  it('says where each value came from: default, file, environment, a secret file', () => {
    const pinFile = file('pin-src.txt', '555666\n');
    const cfgFile = file('sources.json', { dmsUrl: REQUIRED.dmsUrl, tenantId: 't-2', fqdn: REQUIRED.fqdn, pinFile, logLevel: 'debug' });
    const r = run(['config', '--config', cfgFile], { CLOUD_RELAY_LOG_LEVEL: 'warn' });
    expect(r.status, r.stderr).toBe(ExitCode.OK);
    expect(r.stdout).toContain(`Configuration \`cloud-relay start --config ${cfgFile}\` would use here (secrets redacted)`);
    expect(r.stdout).toMatch(new RegExp(`^tenantId +t-2 +file ${cfgFile.replace(/[.]/g, '\\.')}$`, 'm'));
    expect(r.stdout).toMatch(/^logLevel +warn +environment CLOUD_RELAY_LOG_LEVEL$/m);
    expect(r.stdout).toMatch(new RegExp(`^pin +\\[redacted\\] +file ${cfgFile.replace(/[.]/g, '\\.')} via pinFile$`, 'm'));
    expect(r.stdout).toMatch(/^ipGuard\.banSeconds +900 +default$/m);
    expect(r.stdout).not.toContain('555666');
  });
});

describe('effective settings of a config built in code', () => {
  it('names command-line and code overrides as such', () => {
    const fromCli = effectiveSettings(loadConfig({ env: {}, overrides: REQUIRED }));
    expect(fromCli.find((s) => s.path === 'fqdn')?.source).toBe('command line');
    const fromCode = effectiveSettings(loadConfig({ env: {}, overrides: REQUIRED, overridesFrom: 'code' }));
    expect(fromCode.find((s) => s.path === 'fqdn')?.source).toBe('code');
    expect(fromCode.find((s) => s.path === 'adminListen')).toEqual({ path: 'adminListen', value: '127.0.0.1:9090', source: 'default' });
  });
});

describe('README settings table', () => {
  it('matches the schema (regenerate with `npm run docs:config -- --write README.md`)', async () => {
    const { readFileSync } = await import('node:fs');
    const { configTable, replaceTable } = await import('../../scripts/config-table.js');
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    expect(replaceTable(readme, configTable())).toBe(readme);
    for (const s of allSettings()) expect(readme).toContain(`\`${s.env}\``);
  });
});

describe('per-vendor accounts', () => {
  it('reads the default Polycom password from a file, keeps it out of the effective config, and wants a password with a user', () => {
    const pwFile = file('polycom-pw', 'dev-default-pw\n');
    const cfg = loadConfig({ env: { CLOUD_RELAY_ACCOUNTS_POLYCOM_USER: 'Admin', CLOUD_RELAY_ACCOUNTS_POLYCOM_PASSWORD_FILE: pwFile }, overrides: REQUIRED });
    expect(cfg.accounts.polycom).toMatchObject({ user: 'Admin', password: 'dev-default-pw' });
    expect(JSON.stringify(redactedConfig(cfg))).not.toContain('dev-default-pw');
    const shown = Object.fromEntries(effectiveSettings(cfg).map((s) => [s.path, s]));
    expect(shown['accounts.polycom.password']).toMatchObject({ value: '[redacted]', source: expect.stringContaining('via accounts.polycom.passwordFile') });
    expect(shown['accounts.polycom.user']?.value).toBe('Admin');
    const problems = problemsOf(() => loadConfig({ env: { CLOUD_RELAY_ACCOUNTS_POLYCOM_USER: 'Admin' }, overrides: REQUIRED }));
    expect(problems).toEqual([{ path: 'accounts.polycom.password', message: expect.stringMatching(/required when accounts.polycom.user is set/) }]);
  });
});
