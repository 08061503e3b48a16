import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Client } from 'undici';
import { createCa } from '../../sim/pki.js';
import { startProvisioningSimulator, type ProvisioningSimulator } from '../../sim/provisioning/index.js';
import { command as ipCommand } from '../../src/cli/ip.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { tempDir } from '../helpers/relay-config.js';
import { PFX_PASS, basicAuth, phoneClient, relayPki } from '../helpers/phone-client.js';

const ATTACKER = '127.20.1.1';
const PHONE = '127.20.1.2';

async function get(c: Client, path: string, auth: string): Promise<number> {
  const res = await c.request({ method: 'GET', path, headers: { authorization: auth } });
  await res.body.text();
  return res.statusCode;
}

async function ipCli(...args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    return { code: await ipCommand.run(args), out: lines.join('\n') };
  } finally {
    spy.mockRestore();
  }
}

describe('IP guard through the relay', () => {
  const root = createCa('ip guard test root');
  let prov: ProvisioningSimulator;
  let h: Harness;
  let attacker: Client;
  let phone: Client;

  beforeAll(async () => {
    prov = await startProvisioningSimulator({ ca: root });
    const pki = relayPki(tempDir('ipguard-pki-'), root);
    h = await startHarness({
      sim: { ca: root, provisioningUrl: prov.url },
      relayConfig: { pfxFile: pki.pfxFile, pfxPassphrase: PFX_PASS, ipGuard: { maxFailures: 4, windowSeconds: 300, banSeconds: 900 } },
    });
    await h.registered();
    const port = h.daemon.addresses.https!.port;
    attacker = phoneClient(port, root.certPem, ATTACKER);
    phone = phoneClient(port, root.certPem, PHONE);
  });

  afterAll(async () => {
    await attacker?.close();
    await phone?.close();
    await h?.close();
    await prov?.close();
  });

  const upstreamFrom = (ip: string) => prov.requests.filter((r) => r.headers['x-forwarded-for'] === ip).length;

  it('bans a guessing IP, then refuses it with 403 without asking upstream; unban lets it back', async () => {
    const wrong = basicAuth('PlcmSpIp', 'guess');
    expect(await get(attacker, '/site.cfg', wrong)).toBe(401);
    expect(await get(attacker, '/site.cfg', wrong)).toBe(401);
    expect(await get(attacker, '/missing-1.cfg', basicAuth())).toBe(404);
    expect(await get(attacker, '/site.cfg', wrong)).toBe(401);
    expect(upstreamFrom(ATTACKER)).toBe(4);

    expect(await get(attacker, '/site.cfg', basicAuth())).toBe(403);
    expect(await get(attacker, '/site.cfg', basicAuth())).toBe(403);
    expect(upstreamFrom(ATTACKER)).toBe(4);
    expect(h.logs.withCode('IP_BANNED')).toHaveLength(1);

    const check = await ipCli('check', ATTACKER, '--data-dir', h.dataDir);
    expect(check.code).toBe(1);
    expect(check.out).toMatch(/banned/);
    expect((await ipCli('list', '--data-dir', h.dataDir)).out).toContain(ATTACKER);

    const unban = await ipCli('unban', ATTACKER, '--data-dir', h.dataDir);
    expect(unban.code).toBe(0);
    expect(unban.out).toMatch(/banned → allowed/);
    expect(await get(attacker, '/site.cfg', basicAuth())).toBe(200);
    expect(upstreamFrom(ATTACKER)).toBe(5);
    expect((await ipCli('check', ATTACKER, '--data-dir', h.dataDir)).out).toMatch(/whitelisted/);
  });

  it('never bans a phone that has authenticated once', async () => {
    expect(await get(phone, '/site.cfg', basicAuth())).toBe(200);
    for (let i = 0; i < 8; i++) expect(await get(phone, `/optional-${i}.cfg`, basicAuth())).toBe(404);
    expect(await get(phone, '/site.cfg', basicAuth())).toBe(200);
    const check = await ipCli('check', PHONE, '--data-dir', h.dataDir);
    expect(check.code).toBe(0);
    expect(check.out).toMatch(/whitelisted/);
  });

  it('rejects a malformed IP on the command line', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect((await ipCli('check', 'not-an-ip', '--data-dir', h.dataDir)).code).toBe(64);
    } finally {
      err.mockRestore();
    }
  });
});
