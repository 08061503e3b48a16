import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa } from '../../sim/pki.js';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { spawnCli } from '../helpers/child.js';
import { tempDir } from '../helpers/relay-config.js';
import { startTinyproxy, tinyproxyBin, type Tinyproxy } from '../helpers/tinyproxy.js';

interface DoctorJson {
  ok: boolean;
  dmsUrl: string | null;
  steps: { step: string; state: string; detail: string; code?: string; fix?: string }[];
}

/** No proxy variable of the test's own environment leaks into the CLI. */
const CLEAN_ENV = { HTTPS_PROXY: '', https_proxy: '', HTTP_PROXY: '', http_proxy: '', NO_PROXY: '', no_proxy: '' };

async function doctor(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  const cli = spawnCli(undefined, { args: ['doctor', ...args], env: { ...CLEAN_ENV, ...env } });
  const exit = await cli.exited;
  return { code: exit.code, out: cli.stdout.join('\n'), err: cli.stderr.join('\n') };
}

/** `cloud-relay doctor` (built CLI) against a running relay whose DMS traffic goes through a real tinyproxy. */
describe.skipIf(!tinyproxyBin)('cloud-relay doctor', () => {
  const dir = tempDir('cr-doctor-');
  const root = createCa('doctor test root');
  let sim: DmsSimulator;
  let tp: Tinyproxy;
  let h: Harness;

  /** The running relay's config file with `change` applied, written next to it. */
  const variant = (name: string, change: (cfg: Record<string, unknown>) => void): string => {
    const cfg = JSON.parse(readFileSync(h.configFile, 'utf8')) as Record<string, unknown>;
    change(cfg);
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify(cfg));
    return file;
  };

  beforeAll(async () => {
    sim = await startDmsSimulator({ ca: root });
    tp = await startTinyproxy({ dir, user: 'relay', password: 'doc-pass', connectPorts: [Number(new URL(sim.url).port)] });
    const creds = join(dir, 'proxy-credentials');
    writeFileSync(creds, 'relay:doc-pass\n', { mode: 0o600 });
    h = await startHarness({ existingSim: sim, relayConfig: { outboundProxy: { url: tp.url(), credentialsFile: creds } } });
    await h.connected();
  });

  afterAll(async () => {
    await h?.close();
    await tp?.close();
    await sim?.close();
  });

  it('walks every step OK through the proxy and says whose CA vouched; exit 0', async () => {
    const before = tp.connects().length;
    const r = await doctor(['--config', h.configFile]);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`^  OK    proxy +through proxy ${tp.url().replace(/[.]/g, '\\.')} \\(from outboundProxy\\.url\\)$`, 'm'));
    expect(r.out).toMatch(/^ {2}OK {4}tcp +the proxy .* opened a tunnel to 127\.0\.0\.1:\d+ \(CONNECT 200\)$/m);
    expect(r.out).toMatch(/^ {2}OK {4}tls +.* issued by doctor test root.*; trusted through dmsCaFile/m);
    expect(r.out).toMatch(/^ {2}OK {4}api +GET \S+ answered HTTP \d{3}/m);
    expect(r.out).toMatch(/^ {2}OK {4}websocket +the upgrade reached the DMS/m);
    expect(r.out).not.toContain('doc-pass');
    // The doctor's own CONNECTs (raw tunnel, API, upgrade) went through the proxy too.
    expect(tp.connects().length).toBeGreaterThanOrEqual(before + 3);
  });

  it('names a wrong proxy password at the CONNECT step and skips the rest; --json; exit 69', async () => {
    const bad = join(dir, 'bad-credentials');
    writeFileSync(bad, 'relay:not-the-password\n');
    const file = variant('bad-pass', (c) => ((c.outboundProxy as Record<string, unknown>).credentialsFile = bad));
    const r = await doctor(['--config', file, '--json']);
    expect(r.code).toBe(69);
    const doc = JSON.parse(r.out) as DoctorJson;
    expect(doc.ok).toBe(false);
    expect(doc.steps.map((s) => [s.step, s.state])).toEqual([
      ['config', 'ok'],
      ['proxy', 'ok'],
      ['dns', 'ok'],
      ['tcp', 'fail'],
      ['tls', 'skipped'],
      ['api', 'skipped'],
      ['websocket', 'skipped'],
    ]);
    const tcp = doc.steps.find((s) => s.step === 'tcp')!;
    expect(tcp.code).toBe('PROXY_AUTH_FAILED');
    expect(tcp.fix).toMatch(/wrong or missing user:password/);
    expect(r.out).not.toContain('not-the-password');
  });

  it('NO_PROXY with a CIDR range: the route is direct, and a trust store without the DMS CA fails TLS with its code', async () => {
    const otherCa = join(dir, 'other-ca.pem');
    writeFileSync(otherCa, createCa('some other CA').certPem);
    const file = variant('direct-untrusted', (c) => {
      c.outboundProxy = {};
      c.dmsCaFile = otherCa;
    });
    const r = await doctor(['--config', file, '--json'], { HTTPS_PROXY: tp.url('relay:doc-pass'), NO_PROXY: '127.0.0.0/8' });
    expect(r.code).toBe(69);
    const doc = JSON.parse(r.out) as DoctorJson;
    expect(doc.steps.find((s) => s.step === 'proxy')?.detail).toBe(`direct: NO_PROXY entry "127.0.0.0/8" matches ${new URL(sim.url).host}`);
    const tls = doc.steps.find((s) => s.step === 'tls')!;
    expect(tls.state).toBe('fail');
    expect(tls.code).toBe('DMS_TLS_UNTRUSTED');
    expect(tls.detail).toMatch(/presented .* issued by doctor test root/);
  });

  it('an invalid configuration fails the config step; exit 78', async () => {
    const file = variant('bad-url', (c) => (c.outboundProxy = { url: 'socks5://127.0.0.1:1080' }));
    const r = await doctor(['--config', file]);
    expect(r.code).toBe(78);
    expect(r.out).toMatch(/^ {2}FAIL {2}config +.*only http:\/\/ and https:\/\/ proxies/m);
    expect(r.out).toMatch(/CONFIG_INVALID: /);
  });
});
