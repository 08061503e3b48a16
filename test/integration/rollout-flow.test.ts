import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { DmsImages } from '../../sim/dms/images.js';
import { startProvisioningSimulator, type ProvisioningSimulator } from '../../sim/provisioning/index.js';
import { DEFAULT_ACCOUNT, masterConfig } from '../../sim/provisioning/files.js';
import { issueCert, toPfx } from '../../sim/pki.js';
import { PhoneFarm } from '../../sim/phone/farm.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { tempDir } from '../helpers/relay-config.js';
import { waitFor } from '../helpers/wait.js';
import { runTask } from '../helpers/devices.js';
import { runCli, spawnCli } from '../helpers/child.js';
import { request } from 'undici';

/**
 * Firmware rollouts end to end over real sockets: the DMS simulator sends rollout.submit, the
 * relay decides when each phone starts, the simulated phones reboot, boot through the relay's
 * phone port, fetch the image from its cache and come back with the new version.
 */

const FQDN = 'relay.test.example';
const IMAGE = { imageId: 'vvx-6.5.0', version: '6.5.0', path: '/swupdate/vvx/6.5.0/sip.ld', size: 256 * 1024 };
const PHONES = 200;

let sim: DmsSimulator;
let prov: ProvisioningSimulator;
let h: Harness;
let farm: PhoneFarm;
let relayId: string;
const dms = new DmsImages({ images: [IMAGE] });

const frames = (type: string, rolloutId: string) =>
  sim
    .received(relayId, type)
    .filter((f) => f.frame.rolloutId === rolloutId)
    .map((f) => f.frame);
const admin = () => new URL(h.adminUrl()).host;
const lastState = (rolloutId: string) => frames('rollout.state', rolloutId).at(-1) as { state: string; reason?: string; totals: Record<string, number> } | undefined;

beforeAll(async () => {
  sim = await startDmsSimulator({});
  prov = await startProvisioningSimulator({ ca: sim.ca });
  sim.provisioningUrl = prov.url;
  sim.addRoutes(dms.routes);
  dms.publish((name, body) => prov.setFile(name, body));
  prov.setFile('000000000000.cfg', masterConfig(IMAGE.path.slice(1), []));
  const dir = tempDir('cr-rollout-');
  const leaf = issueCert({ cn: FQDN, dnsNames: [FQDN], issuer: sim.ca });
  writeFileSync(join(dir, 'relay.pfx'), toPfx(leaf, [sim.ca], 'pfx-pass'));
  h = await startHarness({
    existingSim: sim,
    relayConfig: {
      fqdn: FQDN,
      pfxFile: join(dir, 'relay.pfx'),
      pfxPassphrase: 'pfx-pass',
      // A phone found in a call is asked again every second (60 s by default), so the test does not wait a minute after the calls end.
      devices: { tlsPolicy: 'insecure', concurrency: 512, upgradePollMs: 100, upgradeTimeoutSeconds: 60, rolloutIdleRecheckSeconds: 1 },
    },
  });
  relayId = await h.connected();
  await waitFor(() => sim.received(relayId, 'image.status').some((f) => f.frame.imageId === IMAGE.imageId && f.frame.state === 'synced'), {
    timeoutMs: 30_000,
    message: 'image synced',
  });
  const port = h.daemon.addresses.https?.port ?? 0;
  farm = await PhoneFarm.start({
    count: PHONES,
    firstIndex: 20_000 + (process.pid % 40) * 250,
    timing: { rebootOfflineMs: 200, callStepMs: 5, answerMs: 10 },
    hosts: { [FQDN]: '127.0.0.1' },
    provisioning: { relayUrl: `https://127.0.0.1:${port}`, servername: FQDN, ca: sim.caPem, account: DEFAULT_ACCOUNT },
  });
  // The phones push their call events to the relay, as an admin configures them.
  for (const { phone } of farm.phones) phone.config.set('apps.telNotification.URL', [`https://${FQDN}:${port}/telnotify`, 'device']);
}, 120_000);

afterAll(async () => {
  await farm?.close();
  await h?.close();
  await prov?.close();
  await sim?.close();
});

describe('firmware rollout', () => {
  it('200 phones, maxConcurrent 20: never more than 20 upgrading, phones in a call wait, one upstream fetch, one result each', async () => {
    // The relay knows the phones (a status task, as the DMS sends after adding phones); three are then in a call.
    await runTask(sim, relayId, { command: { kind: 'status' }, targets: farm.targets() }, 60_000);
    const inCall = [3, 50, 120].map((i) => farm.phone(i));
    for (const p of inCall) p.ring('sip:alice@pbx.example.org');
    await waitFor(() => sim.received(relayId, 'device.event').length >= inCall.length, { message: 'call events at the DMS' });

    let upgrading = 0;
    let peak = 0;
    const offline = new Set<string>();
    const timer = setInterval(() => {
      upgrading = farm.phones.filter(({ phone }) => !phone.online).length;
      peak = Math.max(peak, upgrading);
      for (const { phone } of farm.phones) if (!phone.online) offline.add(phone.mac);
    }, 10);
    const fetchesBefore = dms.fileRequests(IMAGE.imageId);
    const rolloutId = 'ro-200';
    sim.sendFrame(relayId, {
      type: 'rollout.submit',
      rolloutId,
      name: 'VVX 6.5.0',
      imageId: IMAGE.imageId,
      targets: farm.targets(),
      policy: { schedule: { kind: 'once' }, idleMinutes: 0, maxConcurrent: 20 },
    });
    try {
      // Everyone but the phones in a call is upgraded; those wait.
      await waitFor(() => frames('rollout.result', rolloutId).length >= PHONES - inCall.length, { timeoutMs: 120_000, message: 'results of the idle phones' });
      expect(inCall.every((p) => p.firmware === '6.4.3.1234' && p.reboots === 0)).toBe(true);
      await waitFor(() => (lastState(rolloutId)?.totals.waitingIdle ?? 0) === inCall.length, { timeoutMs: 20_000, message: 'waitingIdle reported' });
      // What an admin sees meanwhile: the status (and so the heartbeat's tasks section) and `cloud-relay rollouts`.
      expect(h.daemon.statusDocument().tasks.rollouts).toEqual({ active: 1, devicesUpgrading: 0, devicesWaitingIdle: inCall.length });
      const list = await runCli(['rollouts', '--admin', admin()]);
      expect(list.code).toBe(0);
      expect(list.stdout).toMatch(/^ROLLOUT +STATE +TOTAL +UPGRADED +CURRENT +RUNNING +IDLE-WAIT +FAILED +N\/A +NOT-STARTED +WINDOW$/m);
      expect(list.stdout).toMatch(new RegExp(`^ro-200 +running +200 +${PHONES - inCall.length} +0 +0 +3 +0 +0 +0 +open$`, 'm'));
      // --follow (not a terminal: plain lines per change) runs until the rollout is over. The calls
      // end only once it has printed the running state: a CLI slow to start must not miss it.
      const follow = spawnCli(undefined, { args: ['rollouts', 'show', rolloutId, '--follow', '--admin', admin()] });
      await waitFor(() => follow.stdout.some((l) => /^ro-200 +running +\[#+\.*\] +99% {2}window: open$/.test(l)), {
        timeoutMs: 20_000,
        message: '--follow shows the running rollout',
      });
      for (const p of inCall) p.endCall();
      await waitFor(() => lastState(rolloutId)?.state === 'done', { timeoutMs: 60_000, message: 'rollout done' });
      expect((await follow.exited).code).toBe(0);
      expect(follow.stdout.slice(-2).join('\n')).toMatch(
        /^ro-200 +done +\[#{24}\] 100% {2}window: -\n +upgraded 200, already current 0, upgrading 0, waiting for idle 0, failed 0, not applicable 0, not started 0 of 200$/,
      );
    } finally {
      clearInterval(timer);
    }
    const results = frames('rollout.result', rolloutId);
    expect(results).toHaveLength(PHONES);
    expect(new Set(results.map((r) => r.deviceId)).size).toBe(PHONES);
    expect(results.every((r) => r.outcome === 'success' && r.toVersion === '6.5.0')).toBe(true);
    expect(farm.phones.every(({ phone }) => phone.firmware === '6.5.0' && phone.reboots === 1)).toBe(true);
    expect(peak).toBeLessThanOrEqual(20);
    expect(peak).toBeGreaterThan(1);
    expect(dms.fileRequests(IMAGE.imageId) - fetchesBefore).toBe(0); // the image was synced once before; phones got it from the cache
    expect(lastState(rolloutId)).toMatchObject({ state: 'done', totals: { total: PHONES, upgraded: PHONES, failed: 0, notStarted: 0 } });
    const show = await runCli(['rollouts', 'show', rolloutId, '--admin', admin()]);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/^state +done$/m);
    expect(show.stdout).toMatch(/^policy +once; at most 20 at once; idle 0 min before a phone starts$/m);
    expect(show.stdout).toMatch(/^devices +upgraded 200, already current 0, upgrading 0, waiting for idle 0, failed 0, not applicable 0, not started 0 of 200$/m);
    const json = await runCli(['rollouts', 'show', rolloutId, '--json', '--admin', admin()]);
    expect(JSON.parse(json.stdout)).toMatchObject({ rolloutId, state: 'done', window: null, totals: { upgraded: PHONES }, failures: [] });
    expect(await runCli(['rollouts', 'show', 'no-such-rollout', '--admin', admin()])).toMatchObject({ code: 66, stderr: expect.stringContaining('no rollout no-such-rollout') });
    // Prometheus sees the same figures.
    const metrics = await (await request(`http://${admin()}/metrics`)).body.text();
    expect(metrics).toContain(`cloud_relay_rollout_devices{rollout="${rolloutId}",phase="upgraded"} ${PHONES}`);
    expect(metrics).toContain(`cloud_relay_rollout_state{rollout="${rolloutId}",state="done"} 1`);
    expect(metrics).toMatch(/^cloud_relay_rollouts_active 0$/m);
    expect(metrics).toMatch(/^cloud_relay_rollout_devices_active\{phase="upgrading"\} 0$/m);
  }, 240_000);

  it('aborts at 20 % failures: nothing new starts, every device still gets one result', async () => {
    const group = farm.phones.slice(0, 30).map((p) => p.phone);
    // Back to the old firmware, and the first five fail their flash.
    for (const p of group) p.firmware = '6.4.3.1234';
    for (const p of group.slice(0, 5)) p.faults.upgradeFails = true;
    const rolloutId = 'ro-abort';
    sim.sendFrame(relayId, {
      type: 'rollout.submit',
      rolloutId,
      name: 'abort',
      imageId: IMAGE.imageId,
      targets: farm.targets().slice(0, 30),
      policy: { schedule: { kind: 'once' }, idleMinutes: 0, maxConcurrent: 5, abort: { failurePercent: 20, minDevices: 5 } },
    });
    await waitFor(() => lastState(rolloutId)?.state === 'aborted' && frames('rollout.result', rolloutId).length === 30, {
      timeoutMs: 60_000,
      message: 'rollout aborted with every result',
    });
    const results = frames('rollout.result', rolloutId);
    expect(new Set(results.map((r) => r.deviceId)).size).toBe(30);
    expect(results.filter((r) => String(r.reason).startsWith('not started')).length).toBeGreaterThan(0);
    expect(results.filter((r) => r.outcome === 'failure' && String(r.reason).includes('came back with 6.4.3.1234')).length).toBe(5);
    const show = await runCli(['rollouts', 'show', rolloutId, '--admin', admin()]);
    expect(show.stdout).toMatch(/^state +aborted: 5 of \d+ devices failed/m);
    expect(show.stdout).toMatch(/^failed +dev-[0-9a-f]{12}: the phone came back with 6\.4\.3\.1234, not 6\.5\.0/m);
    // Following an aborted rollout ends at once, with exit 1.
    expect(await runCli(['rollouts', 'show', rolloutId, '--follow', '--admin', admin()])).toMatchObject({ code: 1 });
    for (const p of group.slice(0, 5)) p.faults.upgradeFails = false;
  }, 120_000);

  it('refuses a rollout frame it cannot obey with a nack naming why', async () => {
    const frameId = sim.sendFrame(relayId, { type: 'rollout.pause', rolloutId: 'no-such-rollout' });
    await waitFor(() => sim.answer(relayId, frameId), { message: 'answer to rollout.pause' });
    expect(sim.answer(relayId, frameId)).toMatch(/unknown rollout no-such-rollout/);
  });
});
