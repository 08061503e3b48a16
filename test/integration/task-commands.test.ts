import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gunzipSync } from 'node:zlib';
import { startHarness, type Harness } from '../helpers/harness.js';
import { runTask } from '../helpers/devices.js';
import { waitFor } from '../helpers/wait.js';
import { PhoneFarm } from '../../sim/phone/farm.js';
import { DmsFiles } from '../../sim/dms/files.js';

/**
 * Every command kind through the whole path: DMS simulator → control channel → relay →
 * Polycom REST over HTTPS → simulated phones, and the results back through the outbox.
 */
describe('task commands against simulated Polycom phones', () => {
  let h: Harness;
  let farm: PhoneFarm;
  let relayId: string;
  const files = new DmsFiles();
  // phone roles: 0 healthy, 1 old firmware (no updateConfiguration, no callctrl, no export),
  // 2 API disabled, 3 wrong password, 4 line unregistered, 5 healthy (for calls), 6 busy
  // phone 3's password was changed on the phone; the DMS still has the old one
  const t = (i: number) => (i === 3 ? { ...farm.target(3), credentials: { user: 'Polycom', password: '456' } } : farm.target(i));

  beforeAll(async () => {
    h = await startHarness({ startRelay: false });
    h.sim.addRoutes(files.routes());
    await h.startRelay();
    relayId = await h.connected();
    farm = await PhoneFarm.start({
      count: 7,
      firstIndex: 1000 + (process.pid % 50) * 100,
      hosts: { 'relay.test.example': '127.0.0.1' },
      onError: (p, what, err) => console.error('phone', p.mac, what, err),
      timing: { rebootOfflineMs: 300, callStepMs: 10, answerMs: 50 },
    });
    const old = farm.phone(1);
    old.firmware = '5.4.0.1000';
    for (const p of [
      '/api/v1/mgmt/updateConfiguration',
      '/api/v1/callctrl/dial',
      '/api/v1/mgmt/config/export',
      '/captureScreen/mainScreen',
      '/captureScreen',
      '/form-submit/auth.htm',
    ])
      old.missing.add(p);
    farm.phone(2).apiEnabled = false;
    farm.phone(3).password = 'changed';
    farm.phone(4).lines[0]!.registered = false;
    farm.phone(6).faults.busy = true;
  });

  afterAll(async () => {
    await farm?.close();
    await h?.close();
  });

  it('getParams reports values and the names the phone does not know; not_applicable never for a disabled API', async () => {
    const r = await runTask(h.sim, relayId, { command: { kind: 'getParams', args: { names: ['device.sntp.serverName', 'bogus.name'] } }, targets: [t(0), t(2), t(3)] });
    const ok = r.get(t(0).deviceId)!;
    expect(ok.outcome).toBe('success');
    expect((ok.data as { values: Record<string, string> }).values['device.sntp.serverName']).toBe('pool.ntp.org');
    expect((ok.data as { invalid: string[] }).invalid).toEqual(['bogus.name']);
    expect(r.get(t(2).deviceId)).toMatchObject({ outcome: 'failure', reason: expect.stringMatching(/REST API is disabled/) });
    expect(r.get(t(3).deviceId)).toMatchObject({ outcome: 'failure', reason: expect.stringMatching(/refused the credentials/) });
    // auth failures are final: one request, no retries
    expect(farm.phone(3).hits.get('/api/v1/mgmt/config/get')).toBe(1);
  });

  it('setParams is chunked by 20 and a typed value outside its range fails with the phone reason', async () => {
    const values: Record<string, string | number | boolean> = {};
    for (let i = 1; i <= 45; i++) values[`reg.${i}.displayName`] = `User ${i}`;
    const r = await runTask(h.sim, relayId, { command: { kind: 'setParams', args: { values } }, targets: [t(0)] });
    expect(r.get(t(0).deviceId)).toMatchObject({ outcome: 'success', data: { set: 45, chunks: 3 } });
    expect(farm.phone(0).config.get('reg.45.displayName')?.[0]).toBe('User 45');
    const bad = await runTask(h.sim, relayId, { command: { kind: 'setParams', args: { values: { 'diags.pcap.background.size': 99 } } }, targets: [t(0)] });
    expect(bad.get(t(0).deviceId)).toMatchObject({ outcome: 'failure', reason: expect.stringMatching(/4000 \(invalid input\)/) });
  });

  it('reset runs each of the five scopes on the phone', async () => {
    for (const scope of ['web', 'local', 'device', 'all'] as const) {
      const r = await runTask(h.sim, relayId, { command: { kind: 'reset', args: { scope } }, targets: [t(0)] });
      expect(r.get(t(0).deviceId)?.outcome).toBe('success');
    }
    expect(farm.phone(0).resets).toEqual(['web', 'local', 'device', 'all']);
    const f = await runTask(h.sim, relayId, { command: { kind: 'reset', args: { scope: 'factory' } }, targets: [t(2)] });
    expect(f.get(t(2).deviceId)?.outcome).toBe('failure');
  });

  it('getConfig reads all five sources; an old firmware without export is not_applicable', async () => {
    for (const source of ['config', 'local', 'web', 'device', 'all'] as const) {
      const r = await runTask(h.sim, relayId, { command: { kind: 'getConfig', args: { source } }, targets: [t(0)] });
      expect(r.get(t(0).deviceId)).toMatchObject({ outcome: 'success', data: { source } });
    }
    const old = await runTask(h.sim, relayId, { command: { kind: 'getConfig', args: { source: 'web' } }, targets: [t(1)] });
    expect(old.get(t(1).deviceId)).toMatchObject({ outcome: 'not_applicable', reason: expect.stringMatching(/no such endpoint/) });
  });

  it('checkSync: success, not_applicable on old firmware, failure with a wrong password', async () => {
    const r = await runTask(h.sim, relayId, { command: { kind: 'checkSync' }, targets: [t(0), t(1), t(3)] });
    expect(r.get(t(0).deviceId)?.outcome).toBe('success');
    expect(farm.phone(0).syncs).toBe(1);
    expect(r.get(t(1).deviceId)?.outcome).toBe('not_applicable');
    expect(r.get(t(3).deviceId)?.outcome).toBe('failure');
  });

  it('dial is confirmed from the call status; unregistered line fails; no callctrl is not_applicable', async () => {
    const r = await runTask(h.sim, relayId, { command: { kind: 'dial', args: { to: '4711', dialType: 'tel', line: 1 } }, targets: [t(5), t(4), t(1)] });
    expect(r.get(t(5).deviceId)).toMatchObject({ outcome: 'success', data: { callHandle: expect.stringMatching(/^[0-9a-f]{8}$/) } });
    expect(farm.phone(5).calls[0]?.remote).toBe('4711');
    expect(r.get(t(4).deviceId)).toMatchObject({ outcome: 'failure', reason: expect.stringMatching(/4002 \(line not registered\)/) });
    expect(r.get(t(1).deviceId)?.outcome).toBe('not_applicable');
  });

  it('reboot: immediate when idle, deferred while in a call, and a busy phone is retried then fails', async () => {
    const r = await runTask(h.sim, relayId, { command: { kind: 'reboot' }, targets: [t(0), t(5), t(6)] });
    expect(r.get(t(0).deviceId)).toMatchObject({ outcome: 'success', data: { deferred: false } });
    expect(r.get(t(5).deviceId)).toMatchObject({ outcome: 'success', data: { deferred: true }, reason: expect.stringMatching(/deferred/) });
    expect(farm.phone(5).rebootPending).toBe(true);
    expect(r.get(t(6).deviceId)).toMatchObject({ outcome: 'failure', reason: expect.stringMatching(/4001 \(device busy\).*after 3 attempts/) });
    await waitFor(() => farm.phone(0).reboots === 1, { message: 'phone 0 rebooted' });
    farm.phone(5).endCall();
    await waitFor(() => farm.phone(5).reboots === 1, { message: 'phone 5 rebooted after its call' });
  });

  it('adPassword sets the phone parameter and never logs the password', async () => {
    await waitFor(() => farm.phone(0).online, { message: 'phone 0 back online' });
    const r = await runTask(h.sim, relayId, { command: { kind: 'adPassword', args: { password: 'S3cret-AD-pw' } }, targets: [t(0)] });
    expect(r.get(t(0).deviceId)?.outcome).toBe('success');
    expect(farm.phone(0).config.get('device.auth.adPassword')?.[0]).toBe('S3cret-AD-pw');
    expect(h.logs.text()).not.toContain('S3cret-AD-pw');
  });

  it('screenCapture uploads a PNG to the DMS; old firmware is not_applicable', async () => {
    const r = await runTask(h.sim, relayId, { command: { kind: 'screenCapture' }, targets: [t(0), t(1)] });
    const res = r.get(t(0).deviceId)!;
    expect(res.outcome).toBe('success');
    const name = (res.data as { file: { name: string } }).file.name;
    expect(name).toMatch(new RegExp(`^${farm.phone(0).mac}_\\d{4}\\.\\d{2}\\.\\d{2}_\\d{6}\\.screen\\.png$`));
    expect(files.get(relayId, name)?.body.subarray(1, 4).toString()).toBe('PNG');
    expect(r.get(t(1).deviceId)?.outcome).toBe('not_applicable');
  });

  it('pcapStart, pcapStop (upload kept as tar.gz on the DMS) and pcapCancel', async () => {
    const start = await runTask(h.sim, relayId, { command: { kind: 'pcapStart', args: { maxMb: 5, maxMinutes: 30, filter: 'udp port 5060' } }, targets: [t(0), t(2)] });
    expect(start.get(t(0).deviceId)?.outcome).toBe('success');
    expect(start.get(t(2).deviceId)?.outcome).toBe('failure');
    expect(farm.phone(0).config.get('diags.pcap.background.size')?.[0]).toBe('5');
    const stop = await runTask(h.sim, relayId, { command: { kind: 'pcapStop' }, targets: [t(0)] });
    const res = stop.get(t(0).deviceId)!;
    expect(res.outcome, res.reason).toBe('success');
    const name = (res.data as { file: { name: string } }).file.name;
    expect(name).toMatch(new RegExp(`^${farm.phone(0).mac}_\\d{4}\\.\\d{2}\\.\\d{2}_\\d{6}\\.pcap\\.tar\\.gz$`));
    const tarball = gunzipSync(files.get(relayId, name)!.body);
    // the tar holds {stem}.pcap whose content starts with the libpcap magic (little endian a1b2c3d4)
    expect(tarball.subarray(0, 100).toString('utf8')).toMatch(/\.pcap/);
    expect(tarball.subarray(512, 516).toString('hex')).toBe('d4c3b2a1');
    expect(farm.phone(0).config.get('diags.pcap.background.enabled')?.[0]).toBe('0');
    await runTask(h.sim, relayId, { command: { kind: 'pcapStart', args: { maxMb: 1, maxMinutes: 1 } }, targets: [t(0)] });
    const before = files.list(relayId).length;
    const cancel = await runTask(h.sim, relayId, { command: { kind: 'pcapCancel' }, targets: [t(0)] });
    expect(cancel.get(t(0).deviceId)).toMatchObject({ outcome: 'success', data: { kept: false } });
    expect(files.list(relayId).length).toBe(before);
    expect(farm.phone(0).config.get('diags.pcap.background.enabled')?.[0]).toBe('0');
  });

  it('status reads the phone and sends device.status; an offline phone fails as offline', async () => {
    const r0 = await runTask(h.sim, relayId, { command: { kind: 'status' }, targets: [t(0)] });
    expect(r0.get(t(0).deviceId)).toMatchObject({ outcome: 'success', data: { online: true, callState: 'idle', firmware: '6.4.3.1234' } });
    await waitFor(() => h.sim.received(relayId, 'device.status').some((f) => f.frame.deviceId === t(0).deviceId), { message: 'device.status for phone 0' });
    // Unplugged for longer than the task can take (a reboot's 300 ms offline could be over
    // before the command reaches the phone on a loaded machine).
    expect(farm.takeDown(4, 20_000)).toBe(true);
    const r = await runTask(h.sim, relayId, { command: { kind: 'status' }, targets: [t(4)] });
    expect(r.get(t(4).deviceId)).toMatchObject({ outcome: 'failure', reason: expect.stringMatching(/offline/) });
  });

  it("a kind the vendor's driver does not support, or a vendor without a driver, is not_applicable naming the vendor and nothing reaches the phone", async () => {
    const phone = farm.phone(5);
    const before = [...phone.hits.values()].reduce((a, b) => a + b, 0);
    const file = await runTask(h.sim, relayId, { command: { kind: 'deployFile', args: { imageId: 'img-2', fileType: 'ringtone' } }, targets: [t(5)] });
    expect(file.get(t(5).deviceId)).toMatchObject({ outcome: 'not_applicable', reason: expect.stringMatching(/deployFile .*Polycom/) });
    const unify = { ...t(5), deviceId: 'openstage-1', vendor: 'openstage' };
    const os = await runTask(h.sim, relayId, { command: { kind: 'dial', args: { to: '100' } }, targets: [unify] });
    expect(os.get('openstage-1')).toMatchObject({ outcome: 'not_applicable', reason: expect.stringMatching(/dial is not supported on OpenStage phones/) });
    expect([...phone.hits.values()].reduce((a, b) => a + b, 0)).toBe(before);
  });
});
