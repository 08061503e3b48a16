import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa } from '../../sim/pki.js';
import { DEFAULT_ACCOUNT, startProvisioningSimulator, type ProvisioningSimulator } from '../../sim/provisioning/index.js';
import { bootPolycomPhone } from '../../sim/phone/boot.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { tempDir } from '../helpers/relay-config.js';
import { PFX_PASS, RELAY_FQDN, relayPki } from '../helpers/phone-client.js';

const OWN_CFG_MAC = '64167f3959ca';
const GENERIC_MAC = '0004f214b89e';

describe('Polycom boot through the relay', () => {
  const root = createCa('boot test root');
  let prov: ProvisioningSimulator;
  let h: Harness;
  let relayUrl: string;

  beforeAll(async () => {
    prov = await startProvisioningSimulator({ ca: root, macs: [OWN_CFG_MAC] });
    const pki = relayPki(tempDir('boot-pki-'), root);
    h = await startHarness({ sim: { ca: root, provisioningUrl: prov.url }, relayConfig: { pfxFile: pki.pfxFile, pfxPassphrase: PFX_PASS } });
    await h.registered();
    relayUrl = `https://127.0.0.1:${h.daemon.addresses.https!.port}`;
  });

  afterAll(async () => {
    await h?.close();
    await prov?.close();
  });

  it('boots phones with and without their own master config, uploading their logs', async () => {
    const boots = await Promise.all(
      [OWN_CFG_MAC, GENERIC_MAC].map((mac, i) =>
        // A VVX 410 takes the generic CONFIG_FILES; a VVX 500 its APPLICATION_VVX500 override.
        bootPolycomPhone({
          relayUrl,
          servername: RELAY_FQDN,
          ca: root.certPem,
          mac,
          model: i === 0 ? 'VVX_410' : 'VVX_500',
          localAddress: `127.20.3.${i + 1}`,
          account: DEFAULT_ACCOUNT,
          fetchFirmware: false,
        }),
      ),
    );
    const [own, generic] = boots;
    expect(own!.ok).toBe(true);
    expect(own!.master).toBe(`${OWN_CFG_MAC}.cfg`);
    expect(own!.configFiles).toEqual(['site.cfg', `${OWN_CFG_MAC}-ext.cfg`]);
    expect(generic!.ok).toBe(true);
    expect(generic!.master).toBe('000000000000.cfg');
    expect(generic!.configFiles).toEqual(['vvx.cfg']);
    expect(generic!.steps.slice(0, 3).map((s) => `${s.method} ${s.path} ${s.status}`)).toEqual([
      `PUT /${GENERIC_MAC}-boot.log 201`,
      `GET /${GENERIC_MAC}.cfg 404`,
      'GET /000000000000.cfg 200',
    ]);
    for (const mac of [OWN_CFG_MAC, GENERIC_MAC]) {
      expect(prov.uploads.get(`${mac}-boot.log`)?.toString()).toContain(mac);
      expect(prov.uploads.get(`${mac}-app.log`)?.toString()).toContain('Parameter list loaded');
    }
    // The provisioning server saw Polycom user agents and the phones' own addresses.
    const fromGeneric = prov.requests.filter((r) => r.headers['x-forwarded-for'] === '127.20.3.2');
    expect(fromGeneric.length).toBe(generic!.steps.length);
    expect(fromGeneric.find((r) => r.path === `/${GENERIC_MAC}-boot.log`)?.headers['user-agent']).toMatch(/^FileTransport PolycomVVX-VVX_500-UA\/[\d.]+ Type\/Updater$/);
    expect(fromGeneric.find((r) => r.path === '/vvx.cfg')?.headers['user-agent']).toMatch(/Type\/Application$/);
    // Missing optional files are clean 404s and did not get the phone banned.
    expect(generic!.steps.filter((s) => s.status === 404).length).toBeGreaterThan(3);
    expect(h.logs.withCode('IP_BANNED')).toEqual([]);
  });
});
