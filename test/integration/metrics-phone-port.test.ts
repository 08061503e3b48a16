import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, type Client } from 'undici';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { DmsImages } from '../../sim/dms/images.js';
import { startProvisioningSimulator, type ProvisioningSimulator } from '../../sim/provisioning/index.js';
import { imagesKnown, startHarness, type Harness } from '../helpers/harness.js';
import { tempDir } from '../helpers/relay-config.js';
import { PFX_PASS, basicAuth, phoneClient, relayPki } from '../helpers/phone-client.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The phone-port metrics move when phones use the real relay: firmware from the cache
 * (bytes served, one upstream fetch), provisioning through the proxy (bytes served) and a
 * guessing client banned by the IP guard. Counters are process-wide, so deltas are compared.
 */
const KB = 1024;
const IMAGE_BYTES = 512 * KB;

function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('phone-port metrics', () => {
  let sim: DmsSimulator;
  let prov: ProvisioningSimulator;
  let h: Harness;
  let phone: Client;
  let attacker: Client;
  const images = new DmsImages({
    images: [{ imageId: 'fw', size: IMAGE_BYTES, path: '/swupdate/metrics/sip.ld' }],
    // Far-future window: nothing is pre-filled, the phones' requests trigger the fill.
    syncWindow: { days: ['mon'], start: '02:00', end: '03:00', notBefore: '2099-01-01T00:00' },
  });
  const scrape = async () => (await request(`${h.adminUrl()}/metrics`)).body.text();

  beforeAll(async () => {
    sim = await startDmsSimulator({});
    prov = await startProvisioningSimulator({ ca: sim.ca });
    sim.provisioningUrl = prov.url;
    sim.addRoutes(images.routes);
    const pki = relayPki(tempDir('cr-metrics-port-'), sim.ca);
    h = await startHarness({ existingSim: sim, relayConfig: { pfxFile: pki.pfxFile, pfxPassphrase: PFX_PASS, ipGuard: { maxFailures: 3, windowSeconds: 300, banSeconds: 900 } } });
    await h.registered();
    await imagesKnown(h, ['fw']);
    const port = h.daemon.addresses.https!.port;
    phone = phoneClient(port, sim.caPem, '127.20.170.1');
    attacker = phoneClient(port, sim.caPem, '127.20.170.2');
  });

  afterAll(async () => {
    await phone?.close();
    await attacker?.close();
    await h?.close();
    await prov?.close();
    await sim?.close();
  });

  it('counts firmware bytes served from the cache and the single upstream fetch', async () => {
    const before = await scrape();
    const bodies = await Promise.all(
      Array.from({ length: 3 }, async () => {
        const res = await phone.request({ method: 'GET', path: '/swupdate/metrics/sip.ld', headers: { authorization: basicAuth() } });
        expect(res.statusCode).toBe(200);
        return (await res.body.arrayBuffer()).byteLength;
      }),
    );
    expect(bodies).toEqual([IMAGE_BYTES, IMAGE_BYTES, IMAGE_BYTES]);
    const after = await waitFor(
      async () => {
        const t = await scrape();
        return sample(t, 'cloud_relay_upstream_fetches_total', '{kind="image",outcome="ok"}') > sample(before, 'cloud_relay_upstream_fetches_total', '{kind="image",outcome="ok"}')
          ? t
          : undefined;
      },
      { message: 'the fill is counted' },
    );
    const delta = (name: string, labels = '') => sample(after, name, labels) - sample(before, name, labels);
    expect(delta('cloud_relay_upstream_fetches_total', '{kind="image",outcome="ok"}')).toBe(1);
    expect(delta('cloud_relay_served_bytes_total', '{source="cache"}')).toBe(3 * IMAGE_BYTES);
    expect(sample(after, 'cloud_relay_cache_objects')).toBeGreaterThanOrEqual(1);
  });

  it('counts provisioning bytes passed through to phones', async () => {
    const before = await scrape();
    const res = await phone.request({ method: 'GET', path: '/000000000000.cfg', headers: { authorization: basicAuth() } });
    expect(res.statusCode).toBe(200);
    const length = (await res.body.arrayBuffer()).byteLength;
    expect(length).toBeGreaterThan(0);
    const after = await scrape();
    expect(sample(after, 'cloud_relay_served_bytes_total', '{source="proxy"}') - sample(before, 'cloud_relay_served_bytes_total', '{source="proxy"}')).toBe(length);
  });

  it('counts a ban by the IP guard and shows the blocked IP', async () => {
    const before = await scrape();
    for (let i = 0; i < 3; i++) {
      const res = await attacker.request({ method: 'GET', path: '/site.cfg', headers: { authorization: basicAuth('PlcmSpIp', `guess-${i}`) } });
      await res.body.dump();
      expect(res.statusCode).toBe(401);
    }
    const refused = await attacker.request({ method: 'GET', path: '/site.cfg', headers: { authorization: basicAuth() } });
    await refused.body.dump();
    expect(refused.statusCode).toBe(403);
    const after = await scrape();
    expect(sample(after, 'cloud_relay_ip_guard_bans_total', '{action="ban"}') - sample(before, 'cloud_relay_ip_guard_bans_total', '{action="ban"}')).toBe(1);
    expect(sample(after, 'cloud_relay_ip_guard_ips', '{state="blocked"}')).toBeGreaterThanOrEqual(1);
  });
});
