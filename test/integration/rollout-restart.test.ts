import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { DmsImages } from '../../sim/dms/images.js';
import { startProvisioningSimulator, type ProvisioningSimulator } from '../../sim/provisioning/index.js';
import { DEFAULT_ACCOUNT, masterConfig } from '../../sim/provisioning/files.js';
import { issueCert, toPfx } from '../../sim/pki.js';
import { PhoneFarm } from '../../sim/phone/farm.js';
import { spawnRelay, type RelayProcess } from '../helpers/child.js';
import { tempDir, writeRelayConfig } from '../helpers/relay-config.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A rollout survives a real crash: the relay process is SIGKILLed while phones are rebooting
 * into the new image. After the restart no phone is told to upgrade a second time (each phone
 * counts its reboots), devices caught mid-upgrade are verified, the rest are upgraded, and every
 * device ends with exactly one rollout.result.
 */

const FQDN = 'relay.test.example';
const IMAGE = { imageId: 'vvx-6.5.0', version: '6.5.0', path: '/swupdate/vvx/6.5.0/sip.ld', size: 64 * 1024 };
const PHONES = 40;

describe('rollout across a relay crash', () => {
  let sim: DmsSimulator | undefined;
  let prov: ProvisioningSimulator | undefined;
  let farm: PhoneFarm | undefined;
  let relay: RelayProcess | undefined;
  const dir = tempDir('cr-rollout-crash-');

  afterAll(async () => {
    relay?.kill('SIGKILL');
    await relay?.exited;
    await farm?.close();
    await prov?.close();
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('after kill -9 mid-rollout nothing is triggered twice and every device gets one result', async () => {
    sim = await startDmsSimulator();
    const dms = new DmsImages({ images: [IMAGE] });
    sim.addRoutes(dms.routes);
    prov = await startProvisioningSimulator({ ca: sim.ca });
    sim.provisioningUrl = prov.url;
    dms.publish((name, body) => prov!.setFile(name, body));
    prov.setFile('000000000000.cfg', masterConfig(IMAGE.path.slice(1), []));
    writeFileSync(join(dir, 'relay.pfx'), toPfx(issueCert({ cn: FQDN, dnsNames: [FQDN], issuer: sim.ca }), [sim.ca], 'pfx-pass'));
    const configFor = (httpsListen: string) =>
      writeRelayConfig(dir, {
        dmsUrl: sim!.url,
        caPem: sim!.caPem,
        dataDir: join(dir, 'data'),
        extra: {
          logLevel: 'info',
          fqdn: FQDN,
          pfxFile: join(dir, 'relay.pfx'),
          pfxPassphrase: 'pfx-pass',
          httpsListen,
          devices: { tlsPolicy: 'insecure', upgradePollMs: 100, upgradeTimeoutSeconds: 60 },
        },
      });
    // The relay picks its phone port itself (a port probed free and bound later can be taken by
    // another test's connection meanwhile); the restart binds the same one: the phones boot from it.
    relay = spawnRelay(configFor('127.0.0.1:0'));
    const started = await relay.waitForLog((l) => l.msg === 'cloud-relay started', 20_000);
    const port = (started.https as { port: number }).port;
    const configFile = configFor(`127.0.0.1:${port}`);
    farm = await PhoneFarm.start({
      count: PHONES,
      firstIndex: 40_000 + (process.pid % 40) * 100,
      timing: { rebootOfflineMs: 800 },
      provisioning: { relayUrl: `https://127.0.0.1:${port}`, servername: FQDN, ca: sim.caPem, account: DEFAULT_ACCOUNT },
    });
    const relayId = await waitFor(() => sim!.relays().find((r) => r.connected)?.relayId, { timeoutMs: 20_000, message: 'relay connected' });
    await waitFor(() => sim!.received(relayId, 'image.status').some((f) => f.frame.imageId === IMAGE.imageId && f.frame.state === 'synced'), {
      timeoutMs: 20_000,
      message: 'image synced',
    });
    const results = () => sim!.received(relayId, 'rollout.result').filter((f) => f.frame.rolloutId === 'ro-crash');
    const reported = () => new Set(results().map((f) => String(f.frame.deviceId)));
    sim.sendFrame(relayId, {
      type: 'rollout.submit',
      rolloutId: 'ro-crash',
      name: 'crash',
      imageId: IMAGE.imageId,
      targets: farm.targets(),
      policy: { schedule: { kind: 'once' }, idleMinutes: 0, maxConcurrent: 8 },
    });
    // Kill it while phones are down upgrading and others have not started yet.
    const rebootingUnreported = () => farm!.phones.filter(({ phone }) => phone.reboots > 0 && !reported().has(`dev-${phone.mac}`)).length;
    await waitFor(() => results().length >= 8 && rebootingUnreported() >= 3, { timeoutMs: 60_000, message: 'phones mid-upgrade' });
    relay.kill('SIGKILL');
    await relay.exited;
    const before = results().length;
    expect(before).toBeLessThan(PHONES);

    relay = spawnRelay(configFile);
    await waitFor(() => reported().size === PHONES, { timeoutMs: 90_000, message: 'a result for every device after the restart' });
    await waitFor(() => sim!.received(relayId, 'rollout.state').some((f) => f.frame.rolloutId === 'ro-crash' && f.frame.state === 'done'), { message: 'rollout done' });

    // Exactly one result per device (the simulator drops a resent frame id), and no phone rebooted twice.
    expect(results()).toHaveLength(PHONES);
    expect(farm.phones.every(({ phone }) => phone.reboots <= 1)).toBe(true);
    const byDevice = new Map(results().map((f) => [String(f.frame.deviceId), f.frame]));
    const verified = [...byDevice.values()].filter((r) => String(r.reason).includes('after a restart of the relay'));
    expect(verified.length).toBeGreaterThan(0);
    for (const { phone } of farm.phones) {
      const r = byDevice.get(`dev-${phone.mac}`);
      // What the relay reports is what the phone runs.
      if (r?.outcome === 'success') expect(phone.firmware).toBe('6.5.0');
      else expect(r).toMatchObject({ outcome: 'failure', reason: expect.stringContaining('after a restart of the relay') });
    }
    // Devices not started before the crash were upgraded after it, once.
    expect(farm.phones.filter(({ phone }) => phone.firmware === '6.5.0' && phone.reboots === 1).length).toBeGreaterThan(PHONES - 8 - before);
  }, 180_000);
});
