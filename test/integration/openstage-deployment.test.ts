import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:https';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { DmsImages } from '../../sim/dms/images.js';
import { OpenStageFarm } from '../../sim/openstage/farm.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { sharedDmsPki } from '../helpers/pki-cache.js';
import { runTask } from '../helpers/devices.js';
import { waitFor } from '../helpers/wait.js';

/**
 * updateFirmware and deployFile on OpenStage phones over real sockets: the relay sends a
 * SoftwareDeployment / FileDeployment naming a per-phone download URL on its phone port; the
 * simulated phone downloads the image from the relay's cache, reports the deployment status,
 * restarts with the version in the image's header and reports start-up.
 */

const FQDN = 'relay.test.example';
const FIRMWARE = { imageId: 'os-v3r5.16', version: 'V3R5.16.0', path: '/firmware/openstage/opera_bootimage_v3r5.16.0.img', size: 96 * 1024 };
const LOGO = { imageId: 'os-logo', path: '/firmware/openstage/logo.png', size: 4 * 1024 };

let sim: DmsSimulator;
let h: Harness;
let farm: OpenStageFarm;
let relayId: string;
const dms = new DmsImages({ images: [FIRMWARE, LOGO] });
const base = 1_000 + (process.pid % 400) * 20;
// phone roles: 0 upgraded, 1 flash fails, 2 already current, 3 logo, 4 rollout, 5 call during deployment, 6 verify
const phoneGets = (i: number) => farm.phone(i).downloads;

beforeAll(async () => {
  sim = await startDmsSimulator({ ...sharedDmsPki() });
  sim.addRoutes(dms.routes);
  h = await startHarness({
    existingSim: sim,
    relayConfig: { fqdn: FQDN, devices: { requestTimeoutMs: 2_000, pollIntervalSeconds: 7 * 86_400, upgradePollMs: 100, upgradeTimeoutSeconds: 30 } },
  });
  relayId = await h.connected();
  await waitFor(() => [FIRMWARE, LOGO].every((img) => sim.received(relayId, 'image.status').some((f) => f.frame.imageId === img.imageId && f.frame.state === 'synced')), {
    timeoutMs: 30_000,
    message: 'images synced',
  });
  farm = await OpenStageFarm.start({ count: 7, firstIndex: base, hosts: { [FQDN]: '127.0.0.1' } });
  farm.phone(1).faults.deploymentFails = true;
  farm.phone(2).items.set('software-version', FIRMWARE.version);
}, 60_000);

afterAll(async () => {
  await farm?.close();
  await h?.close();
  await sim?.close();
});

describe('OpenStage software and file deployment from the relay cache', () => {
  it('updateFirmware: the phone fetches the image from the cache, restarts and comes back with its version', async () => {
    const fetches = dms.fileRequests(FIRMWARE.imageId);
    const r = await runTask(sim, relayId, { command: { kind: 'updateFirmware', args: { imageId: FIRMWARE.imageId } }, targets: [farm.target(0)] }, 30_000);
    expect(r.get(farm.target(0).deviceId)).toMatchObject({
      outcome: 'success',
      reason: 'upgraded from the relay cache',
      data: { fromVersion: 'V3 R5.14.0', toVersion: FIRMWARE.version, fetchedFromCache: true, alreadyCurrent: false },
    });
    const p = farm.phone(0);
    expect(p.items.get('software-version')).toBe(FIRMWARE.version);
    expect(p.restarts).toBe(1);
    expect(phoneGets(0)).toEqual([200]);
    expect(p.log).toContain('solicited: ReadItems ReadItems WriteItems SoftwareDeployment CleanUp');
    // Served from the cache: no upstream fetch of the image during the update.
    expect(dms.fileRequests(FIRMWARE.imageId)).toBe(fetches);
    // The URL was single-purpose: once the update is over it is refused.
    const url = p.deployUrls.at(-1)!;
    expect(await getFrom(url, p.ip)).toBe(404);
    expect(h.logs.lines().some((l) => l.code === 'DOWNLOAD_GRANT_UNKNOWN')).toBe(true);
  });

  it('a flash that fails is a failure saying the phone reported it, with the version unchanged', async () => {
    const r = await runTask(sim, relayId, { command: { kind: 'updateFirmware', args: { imageId: FIRMWARE.imageId } }, targets: [farm.target(1)] }, 30_000);
    const res = r.get(farm.target(1).deviceId)!;
    expect(res.outcome).toBe('failure');
    expect(res.reason).toMatch(/reported that the software deployment failed \(it fetched the image from the relay\)/);
    expect(farm.phone(1).items.get('software-version')).toBe('V3 R5.14.0');
    expect(farm.phone(1).restarts).toBe(0);
  });

  it('a phone already on the version is left alone', async () => {
    const r = await runTask(sim, relayId, { command: { kind: 'updateFirmware', args: { imageId: FIRMWARE.imageId } }, targets: [farm.target(2)] }, 30_000);
    expect(r.get(farm.target(2).deviceId)).toMatchObject({ outcome: 'success', reason: 'already current', data: { alreadyCurrent: true } });
    expect(farm.phone(2).deployments).toBe(0);
  });

  it('deployFile: the phone fetches a logo from the cache and reports it deployed', async () => {
    const r = await runTask(sim, relayId, { command: { kind: 'deployFile', args: { imageId: LOGO.imageId, fileType: 'logo' } }, targets: [farm.target(3)] }, 30_000);
    expect(r.get(farm.target(3).deviceId)).toMatchObject({ outcome: 'success', data: { imageId: LOGO.imageId, fileType: 'logo', fetchedFromCache: true, status: 'ok' } });
    expect(farm.phone(3).files.get('LOGO')).toBe(LOGO.size);
    expect(farm.phone(3).restarts).toBe(0);
  });

  it('a deployment to a phone in a call waits for it to be idle', async () => {
    const p = farm.phone(5);
    p.startCall();
    const { taskId } = sim.submitTask(relayId, {
      command: { kind: 'deployFile', args: { imageId: LOGO.imageId, fileType: 'ringtone' } },
      targets: [farm.target(5)],
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
    });
    await waitFor(() => p.sendSolicited, { timeoutMs: 15_000, message: 'deployment refused busy' });
    expect(p.deployments).toBe(0);
    p.endCall();
    await waitFor(() => sim.received(relayId, 'task.result').some((f) => f.frame.taskId === taskId), { timeoutMs: 20_000, message: 'result after the call' });
    expect(sim.received(relayId, 'task.result').find((f) => f.frame.taskId === taskId)!.frame).toMatchObject({
      outcome: 'success',
      data: { fileType: 'ringtone', waitedForIdle: true },
    });
    expect(p.files.get('RINGTONE')).toBe(LOGO.size);
  });

  it('a firmware rollout includes OpenStage phones through the same driver port', async () => {
    const rolloutId = `ro-os-${process.pid}`;
    sim.sendFrame(relayId, {
      type: 'rollout.submit',
      rolloutId,
      name: 'OpenStage V3R5.16',
      imageId: FIRMWARE.imageId,
      targets: [farm.target(4)],
      policy: { schedule: { kind: 'once' }, idleMinutes: 0, maxConcurrent: 1 },
    });
    await waitFor(() => sim.received(relayId, 'rollout.result').some((f) => f.frame.rolloutId === rolloutId), { timeoutMs: 30_000, message: 'rollout result' });
    const res = sim.received(relayId, 'rollout.result').find((f) => f.frame.rolloutId === rolloutId)!.frame;
    expect(res).toMatchObject({ deviceId: farm.target(4).deviceId, outcome: 'success' });
    expect(farm.phone(4).items.get('software-version')).toBe(FIRMWARE.version);
  });

  it('verify (after a relay restart mid-deployment) only reads the version: no deployment, no download URL', async () => {
    const choice = h.daemon.deviceWork!.drivers.choose('openstage', 'updateFirmware');
    if (!choice.ok) throw new Error(choice.reason);
    const r = await choice.driver.updateFirmware!(farm.target(6), { imageId: FIRMWARE.imageId, version: FIRMWARE.version, path: FIRMWARE.path }, 'verify');
    expect(r).toMatchObject({ outcome: 'failure', toVersion: 'V3 R5.14.0', reason: expect.stringContaining(`runs V3 R5.14.0, not ${FIRMWARE.version}`) });
    expect(farm.phone(6).deployments).toBe(0);
    // The phone notes the interaction once it has the CleanUp, just after the driver is done.
    await waitFor(() => farm.phone(6).log.length > 0, { message: 'interaction over on the phone' });
    expect(farm.phone(6).log).toEqual(['solicited: ReadItems CleanUp']);
  });
});

/** GET from a given local address (the relay serves a grant to its own phone only); resolves with the status. */
function getFrom(url: string, localAddress: string): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: u.port, path: u.pathname, servername: u.hostname, localAddress, rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}
