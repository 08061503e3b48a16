import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PolycomDriver } from '../../src/devices/polycom/driver.js';
import type { CachedImage } from '../../src/devices/driver.js';
import { PhoneFarm } from '../../sim/phone/farm.js';
import { startProvisioningSimulator, type ProvisioningSimulator } from '../../sim/provisioning/server.js';
import { DEFAULT_ACCOUNT, masterConfig } from '../../sim/provisioning/files.js';
import { DmsImages } from '../../sim/dms/images.js';
import { waitFor } from '../helpers/wait.js';

/**
 * updateFirmware on Polycom phones over real HTTPS: the driver safe-reboots the phone, the
 * simulated phone boots from its provisioning server, fetches the image its master config
 * names and installs it (unless its flash fails), and the driver reads the version it came
 * back with. The relay is not in this test: the phones provision straight from the
 * provisioning simulator; the relay-cache path is covered by the rollout tests.
 */
describe('Polycom driver: firmware update', () => {
  let prov: ProvisioningSimulator;
  let farm: PhoneFarm;
  let driver: PolycomDriver;
  const image: CachedImage = { imageId: 'vvx-6.5.0', version: '6.5.0', path: '/swupdate/vvx/6.5.0/sip.ld' };

  beforeAll(async () => {
    prov = await startProvisioningSimulator({ prefix: '/' });
    const dms = new DmsImages({ images: [{ imageId: image.imageId, size: 256 * 1024, version: image.version, path: image.path }] });
    dms.publish((name, body) => prov.setFile(name, body));
    prov.setFile('000000000000.cfg', masterConfig('swupdate/vvx/6.5.0/sip.ld', []));
    farm = await PhoneFarm.start({
      count: 4,
      firstIndex: 6000 + (process.pid % 50) * 10,
      timing: { rebootOfflineMs: 150 },
      provisioning: { relayUrl: prov.url, servername: 'localhost', ca: prov.ca.certPem, account: DEFAULT_ACCOUNT },
    });
    farm.phone(2).faults.upgradeFails = true;
    driver = new PolycomDriver({
      tlsPolicy: 'insecure',
      requestTimeoutMs: 5_000,
      pins: { check: () => ({ ok: true as const }) },
      firmwareServed: () => false,
      firmwareWait: { pollMs: 100, timeoutMs: 15_000 },
    });
  });

  afterAll(async () => {
    await driver?.close();
    await farm?.close();
    await prov?.close();
  });

  it('reboots the phone, which fetches the image and comes back with its version; a second run is "already current"', async () => {
    const t = farm.target(0);
    const r = await driver.updateFirmware(t, image, 'trigger');
    expect(r).toMatchObject({ outcome: 'success', fromVersion: '6.4.3.1234', toVersion: '6.5.0', fetchedFromCache: false });
    expect(farm.phone(0).reboots).toBe(1);
    expect(prov.requests.filter((q) => q.path.endsWith('vvx/6.5.0/sip.ld')).length).toBeGreaterThan(0);
    const again = await driver.updateFirmware(t, image, 'trigger');
    expect(again).toMatchObject({ outcome: 'success', alreadyCurrent: true });
    expect(farm.phone(0).reboots).toBe(1);
  });

  it('a flash that fails is a failure naming the version the phone came back with', async () => {
    const r = await driver.updateFirmware(farm.target(2), image, 'trigger');
    expect(r.outcome).toBe('failure');
    expect(r.reason).toContain('came back with 6.4.3.1234, not 6.5.0');
  });

  it('never cuts a call: the reboot waits for the call to end, then the upgrade completes', async () => {
    const phone = farm.phone(1);
    phone.ring('alice@pbx');
    const pending = driver.updateFirmware(farm.target(1), image, 'trigger');
    await waitFor(() => phone.rebootPending, { message: 'reboot deferred by the call' });
    expect(phone.reboots).toBe(0);
    phone.endCall();
    const r = await pending;
    expect(r).toMatchObject({ outcome: 'success', toVersion: '6.5.0', reason: expect.stringContaining('rebooted after its call ended') });
  });

  it('verify (after a relay restart) reads the version without rebooting', async () => {
    const r = await driver.updateFirmware(farm.target(0), image, 'verify');
    expect(r).toMatchObject({ outcome: 'success', toVersion: '6.5.0' });
    const other = await driver.updateFirmware(farm.target(3), image, 'verify');
    expect(other).toMatchObject({ outcome: 'failure', reason: expect.stringContaining('runs 6.4.3.1234, not 6.5.0') });
    expect(farm.phone(3).reboots).toBe(0);
  });
});
