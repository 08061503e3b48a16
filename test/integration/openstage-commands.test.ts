import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/harness.js';
import { runTask } from '../helpers/devices.js';
import { waitFor } from '../helpers/wait.js';
import { OpenStageFarm } from '../../sim/openstage/farm.js';

/**
 * OpenStage commands over real sockets: DMS simulator → control channel → relay → contact-me
 * (HTTP) → simulated phone → HTTPS interaction on the relay's DLS port → results back.
 */
describe('task commands against simulated OpenStage phones', () => {
  let h: Harness;
  let relayId: string;
  let farm: OpenStageFarm;
  let fragments: OpenStageFarm;
  let polled: OpenStageFarm;
  // phone roles: 0 reads, 1 writes, 2 busy (in a call), 3 wrong nonce, 4 reboot, 5 ignores contact-mes, 6 written (setParams), 7 reboot while in a call, 8 checkSync
  const base = (process.pid % 400) * 30;
  const expiresIn = (s: number): string => new Date(Date.now() + s * 1000).toISOString();

  beforeAll(async () => {
    h = await startHarness({ relayConfig: { devices: { requestTimeoutMs: 2_000, pollIntervalSeconds: 7 * 86_400 } } });
    relayId = await h.connected();
    farm = await OpenStageFarm.start({ count: 9, firstIndex: base });
    fragments = await OpenStageFarm.start({ count: 1, firstIndex: base + 20, maxItems: 3, extraItems: 20 });
    polled = await OpenStageFarm.start({ count: 1, firstIndex: base + 25 });
    farm.phone(3).faults.wrongNonce = true;
    farm.phone(5).faults.ignoreContactMe = true;
  });

  afterAll(async () => {
    await farm?.close();
    await fragments?.close();
    await polled?.close();
    await h?.close();
  });

  it('status reads identity and software version through a contact-me and one interaction', async () => {
    const r = await runTask(h.sim, relayId, { command: { kind: 'status' }, targets: [farm.target(0)] });
    expect(r.get(farm.target(0).deviceId)).toMatchObject({ outcome: 'success', data: { online: true, firmware: 'V3 R5.14.0' } });
    expect(farm.phone(0).contactMes).toBe(1);
    expect(farm.phone(0).log.at(-1)).toBe('solicited: ReadItems CleanUp');
  });

  it('getParams reads items and names those the phone does not know; an unreachable phone fails', async () => {
    const gone = { ...farm.target(1), deviceId: 'gone', ip: '127.20.199.250', port: 9 };
    const r = await runTask(h.sim, relayId, { command: { kind: 'getParams', args: { names: ['e164', 'no-such-item'] } }, targets: [farm.target(1), gone] });
    expect(r.get(farm.target(1).deviceId)).toMatchObject({ outcome: 'success', data: { values: { e164: farm.phone(1).items.get('e164') }, invalid: ['no-such-item'] } });
    expect(r.get('gone')?.outcome).toBe('failure');
    expect(r.get('gone')?.reason).toMatch(/contact-me to 127\.20\.199\.250:9 failed/);
  });

  it('setParams writes items, sending & as + and dropping < >, as the phones need', async () => {
    const r = await runTask(h.sim, relayId, { command: { kind: 'setParams', args: { values: { 'display-id': 'Sales & <Support>' } } }, targets: [farm.target(6)] });
    expect(r.get(farm.target(6).deviceId)).toMatchObject({ outcome: 'success', data: { set: 1 } });
    expect(farm.phone(6).items.get('display-id')).toBe('Sales + Support');
  });

  it('a write refused busy during a call waits for the solicited contact and is written after the call', async () => {
    const p = farm.phone(2);
    p.startCall();
    const { taskId } = h.sim.submitTask(relayId, {
      command: { kind: 'setParams', args: { values: { 'display-id': 'after call' } } },
      targets: [farm.target(2)],
      expiresAt: expiresIn(60),
    });
    await waitFor(() => p.log.some((l) => l.includes('WriteItems CleanUp')) && p.sendSolicited, { timeoutMs: 15_000, message: 'write refused busy' });
    expect(p.items.get('display-id')).not.toBe('after call');
    p.endCall();
    await waitFor(() => h.sim.received(relayId, 'task.result').some((f) => f.frame.taskId === taskId), { timeoutMs: 15_000, message: 'result after the call' });
    const res = h.sim.received(relayId, 'task.result').find((f) => f.frame.taskId === taskId)!.frame;
    expect(res).toMatchObject({ outcome: 'success', data: { waitedForIdle: true } });
    expect(p.items.get('display-id')).toBe('after call');
    expect(p.contactMes).toBe(1);
  });

  it('getConfig on a phone with a small maxItems pulls every fragment', async () => {
    const r = await runTask(h.sim, relayId, { command: { kind: 'getConfig' }, targets: [fragments.target(0)] });
    const res = r.get(fragments.target(0).deviceId)!;
    expect(res.outcome).toBe('success');
    const config = (res.data as { config: Record<string, string> }).config;
    expect(Object.keys(config)).toHaveLength(fragments.phone(0).items.size);
    expect(config['filler-item-19']).toBe('value-19');
    expect(fragments.phone(0).log.at(-1)).toMatch(/^solicited: ReadAllItems( GetNextFragment){9} CleanUp$/);
  });

  it('refuses a phone that changes its nonce mid-interaction, without retrying', async () => {
    const r = await runTask(h.sim, relayId, { command: { kind: 'setParams', args: { values: { 'display-id': 'x' } } }, targets: [farm.target(3)] });
    expect(r.get(farm.target(3).deviceId)?.outcome).toBe('failure');
    expect(r.get(farm.target(3).deviceId)?.reason).toMatch(/another nonce/);
    expect(h.logs.lines().some((l) => l.code === 'DLS_NONCE_MISMATCH')).toBe(true);
  });

  it('reboot restarts after a harmless write, and the start-up contact reaches the DMS as a device.event', async () => {
    const r = await runTask(h.sim, relayId, { command: { kind: 'reboot' }, targets: [farm.target(4)] });
    expect(r.get(farm.target(4).deviceId)).toMatchObject({ outcome: 'success', data: { deferred: false } });
    expect(farm.phone(4).restarts).toBe(1);
    await waitFor(() => h.sim.received(relayId, 'device.event').some((f) => (f.frame.event as { reason?: string }).reason === 'start-up' && f.frame.ip === farm.phone(4).ip), {
      timeoutMs: 10_000,
      message: 'start-up event',
    });
  });

  it('never restarts a phone in a call: waits for the solicited contact first', async () => {
    const p = farm.phone(7);
    p.startCall();
    const { taskId } = h.sim.submitTask(relayId, { command: { kind: 'reboot' }, targets: [farm.target(7)], expiresAt: expiresIn(60) });
    await waitFor(() => p.sendSolicited, { timeoutMs: 15_000, message: 'probe write refused busy' });
    expect(p.restarts).toBe(0);
    p.endCall();
    await waitFor(() => h.sim.received(relayId, 'task.result').some((f) => f.frame.taskId === taskId), { timeoutMs: 15_000, message: 'reboot result' });
    expect(h.sim.received(relayId, 'task.result').find((f) => f.frame.taskId === taskId)!.frame).toMatchObject({ outcome: 'success', data: { deferred: true } });
    expect(p.restarts).toBe(1);
  });

  it('checkSync reads all items in a solicited interaction', async () => {
    const r = await runTask(h.sim, relayId, { command: { kind: 'checkSync' }, targets: [farm.target(8)] });
    expect(r.get(farm.target(8).deviceId)?.outcome).toBe('success');
    expect(farm.phone(8).log.at(-1)).toBe('solicited: ReadAllItems CleanUp');
  });

  it('kinds without a WPI equivalent are not_applicable naming OpenStage, and nothing is sent', async () => {
    const before = farm.contactMes();
    const r = await runTask(h.sim, relayId, { command: { kind: 'dial', args: { to: '100' } }, targets: [farm.target(0)] });
    expect(r.get(farm.target(0).deviceId)?.outcome).toBe('not_applicable');
    expect(r.get(farm.target(0).deviceId)?.reason).toMatch(/OpenStage/);
    expect(farm.contactMes()).toBe(before);
  });

  it('sends at most one contact-me per phone per minute, even when the command is retried', async () => {
    const p = farm.phone(5);
    const r = await runTask(h.sim, relayId, { command: { kind: 'getParams', args: { names: ['e164'] } }, targets: [farm.target(5)], expiresAt: expiresIn(30) }, 30_000);
    const res = r.get(farm.target(5).deviceId)!;
    expect(res.outcome).toBe('failure');
    expect(res.reason).toMatch(/at most one per minute/);
    expect(p.contactMes).toBe(1);
  });

  it('the monitor polls OpenStage phones through a solicited ReadItems, never faster than one contact-me a minute', async () => {
    const work = h.daemon.deviceWork!;
    const t = polled.target(0);
    const gone = { ...t, deviceId: 'os-gone', ip: '127.20.199.251', port: 9 };
    for (const d of [t, gone]) work.devices.upsert({ deviceId: d.deviceId, mac: d.mac, ip: d.ip, target: JSON.stringify(d) }, Date.now());
    const statusOf = (id: string) => h.sim.received(relayId, 'device.status').filter((f) => f.frame.deviceId === id);
    await work.poller.poll({ deviceId: t.deviceId, target: JSON.stringify(t) });
    await waitFor(() => statusOf(t.deviceId).length === 1, { message: 'device.status of the polled phone' });
    expect(statusOf(t.deviceId)[0]!.frame).toMatchObject({ online: true, firmware: 'V3 R5.14.0' });
    await waitFor(() => polled.phone(0).log.at(-1) === 'solicited: ReadItems CleanUp', { message: 'the poll as the phone saw it' });
    // Polled again within the minute: put off, not sent, and the phone is not reported offline.
    const deferred = work.poller.deferred;
    await work.poller.poll({ deviceId: t.deviceId, target: JSON.stringify(t) });
    expect(work.poller.deferred).toBe(deferred + 1);
    expect(polled.phone(0).contactMes).toBe(1);
    // The typed status document (/status on the admin port) counts it.
    const doc = (await (await fetch(`${h.adminUrl()}/status`)).json()) as { deviceWork: { pollsDeferred: number } };
    expect(doc.deviceWork.pollsDeferred).toBe(deferred + 1);
    // An unreachable phone is offline.
    await work.poller.poll({ deviceId: gone.deviceId, target: JSON.stringify(gone) });
    await waitFor(() => statusOf(gone.deviceId).length === 1, { message: 'device.status of the unreachable phone' });
    expect(statusOf(gone.deviceId)[0]!.frame).toMatchObject({ online: false });
    expect(statusOf(t.deviceId).every((f) => f.frame.online === true)).toBe(true);
  });
});
