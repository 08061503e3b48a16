import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { DmsImages } from '../../sim/dms/images.js';
import { startProvisioningSimulator, type ProvisioningSimulator } from '../../sim/provisioning/index.js';
import { issueCert, toPfx } from '../../sim/pki.js';
import { imagesKnown, startHarness, type Harness } from '../helpers/harness.js';
import { tempDir } from '../helpers/relay-config.js';

const MB = 1024 * 1024;
const FQDN = 'relay.test.example';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const goodAuth = `Basic ${Buffer.from('PlcmSpIp:PlcmSpIp').toString('base64')}`;

let sim: DmsSimulator;
let prov: ProvisioningSimulator;
let h: Harness;
let client: Agent;
let base: string;
const dms = new DmsImages({
  images: [{ imageId: 'real', size: 3 * MB, path: '/swupdate/real/sip.ld' }],
  // Window far in the future: the agent does not pre-fill, phones trigger the fill.
  syncWindow: { days: ['mon'], start: '02:00', end: '03:00', notBefore: '2099-01-01T00:00' },
});

beforeAll(async () => {
  sim = await startDmsSimulator({});
  prov = await startProvisioningSimulator({ ca: sim.ca });
  sim.provisioningUrl = prov.url;
  sim.addRoutes(dms.routes);
  // The image is NOT on the provisioning server: the credential check there answers 404 to a
  // phone it accepts and 401 to one it does not, which is all the relay needs.
  const dir = tempDir('cr-cache-relay-');
  const leaf = issueCert({ cn: FQDN, dnsNames: [FQDN], issuer: sim.ca });
  writeFileSync(join(dir, 'relay.pfx'), toPfx(leaf, [sim.ca], 'pfx-pass'));
  h = await startHarness({ existingSim: sim, relayConfig: { pfxFile: join(dir, 'relay.pfx'), pfxPassphrase: 'pfx-pass' } });
  await h.registered();
  // Wait until the agent has stored the catalogue (the image path is then known).
  await imagesKnown(h, ['real']);
  const port = h.daemon.addresses.https?.port;
  base = `https://127.0.0.1:${String(port)}`;
  client = new Agent({ connect: { ca: sim.caPem, servername: FQDN }, connections: 64 });
});

afterAll(async () => {
  await client?.close();
  await h?.close();
  await prov?.close();
  await sim?.close();
});

async function get(path: string, auth: string | null = goodAuth) {
  const res = await request(`${base}${path}`, { dispatcher: client, headers: auth ? { authorization: auth } : {} });
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
}

describe('firmware through the real relay phone port', () => {
  it('30 concurrent phones, one upstream fetch; no credentials, no bytes', async () => {
    const denied = await get('/swupdate/real/sip.ld', null);
    expect(denied.status).toBe(401);
    expect(dms.fileRequests('real')).toBe(0);
    const results = await Promise.all(Array.from({ length: 30 }, () => get('/swupdate/real/sip.ld')));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(sha(r.body)).toBe(dms.sha256('real'));
    }
    expect(dms.fileRequests('real')).toBe(1);
    const ranged = await request(`${base}/swupdate/real/sip.ld`, { dispatcher: client, headers: { authorization: goodAuth, range: 'bytes=10-19' } });
    expect(ranged.statusCode).toBe(206);
    expect(Buffer.from(await ranged.body.arrayBuffer()).equals(dms.bytes('real', 10, 20))).toBe(true);
  });

  it('a firmware path outside the desired set is fetched once from the provisioning server and cached', async () => {
    const want = prov.files.get('fw/5.9.7/sip.ld') as Buffer;
    const before = prov.seen('/fw/5.9.7/sip.ld').filter((r) => r.method === 'GET' && r.headers.range === undefined).length;
    const results = await Promise.all(Array.from({ length: 5 }, () => get('/fw/5.9.7/sip.ld')));
    for (const r of results) expect(r.body.equals(want)).toBe(true);
    const again = await get('/fw/5.9.7/sip.ld');
    expect(again.body.equals(want)).toBe(true);
    const fills = prov.seen('/fw/5.9.7/sip.ld').filter((r) => r.method === 'GET' && r.headers.range === undefined).length - before;
    expect(fills).toBe(1);
    const wrong = await get('/fw/5.9.7/sip.ld', `Basic ${Buffer.from('PlcmSpIp:wrong').toString('base64')}`);
    expect(wrong.status).toBe(401);
    expect(wrong.body.includes(want.subarray(0, 32))).toBe(false);
    // A path the provisioning server does not serve is refused without a fill.
    const unknown = await get('/fw/none/sip.ld');
    expect(unknown.status).toBe(404);
  });
});
