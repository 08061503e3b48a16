import { afterAll, describe, expect, it } from 'vitest';
import { OpenStageFarm } from '../../sim/openstage/farm.js';
import { startChildRelay, type ChildRelay } from '../helpers/child-relay.js';
import { resultsOf } from '../helpers/devices.js';
import { waitFor } from '../helpers/wait.js';

/**
 * PROTOCOL §3 crash rules on OpenStage phones, with a real crash: the relay process is
 * SIGKILLed while two DLS interactions are open (the phones answer slowly). After the restart
 * the reboot, which may have reached its phone, is reported "interrupted" and never sent again;
 * getParams runs again through a new contact-me and succeeds.
 */
describe('OpenStage: relay crash mid-interaction', () => {
  let rig: ChildRelay | undefined;
  let farm: OpenStageFarm | undefined;

  afterAll(async () => {
    await rig?.close();
    await farm?.close();
  });

  // Two starts of the built relay as a child process: seconds each on a loaded machine.
  it('a killed relay reports the open reboot as interrupted and re-runs getParams', async () => {
    farm = await OpenStageFarm.start({ count: 2, firstIndex: 3_000 + (process.pid % 400) * 5, faults: { replyDelayMs: 4_000 } });
    // A short contact-me interval: the re-run after the restart must wait it out (it survives the crash), not a whole minute.
    rig = await startChildRelay('cr-os-crash-', { devices: { requestTimeoutMs: 6_000 }, openstage: { dlsListen: '127.0.0.1:0', contactMeIntervalSeconds: 5 } });
    const { sim } = rig;
    const relayId = await rig.connected();
    const reboot = sim.submitTask(relayId, { command: { kind: 'reboot' }, targets: [farm.target(0)] });
    const read = sim.submitTask(relayId, { command: { kind: 'getParams', args: { names: ['e164'] } }, targets: [farm.target(1)] });
    // Both phones called back and are holding their first answer: the interactions are open.
    await waitFor(() => [0, 1].every((i) => farm!.phone(i).contactMes === 1 && farm!.phone(i).interacting), { timeoutMs: 15_000, message: 'interactions open' });
    await rig.kill();
    for (const { phone } of farm.phones) phone.faults = {};
    // The old interactions end on the phones' side (their next post finds no relay).
    await waitFor(() => farm!.phones.every(({ phone }) => !phone.interacting), { timeoutMs: 15_000, message: 'old interactions over' });
    rig.restart();
    await waitFor(() => resultsOf(sim, relayId, reboot.taskId).size === 1 && resultsOf(sim, relayId, read.taskId).size === 1, {
      timeoutMs: 30_000,
      message: 'results after the restart',
    });
    expect(resultsOf(sim, relayId, reboot.taskId).get(farm.target(0).deviceId)).toMatchObject({ outcome: 'failure', reason: expect.stringMatching(/^interrupted/) });
    expect(resultsOf(sim, relayId, read.taskId).get(farm.target(1).deviceId)).toMatchObject({ outcome: 'success', data: { values: { e164: farm.phone(1).items.get('e164') } } });
    // Not repeated: one contact-me, no restart. Repeated: a second contact-me and a full interaction.
    expect(farm.phone(0).contactMes).toBe(1);
    expect(farm.phone(0).restarts).toBe(0);
    expect(farm.phone(1).contactMes).toBe(2);
    await waitFor(() => farm!.phone(1).log.at(-1) === 'solicited: ReadItems CleanUp', { message: 'the re-run as the phone saw it' });
  }, 90_000);
});

/**
 * The contact-me minute is kept in the store: a relay killed right after contacting a phone
 * and started again within the minute does not send that phone a second contact-me.
 */
describe('OpenStage: the contact-me minute survives a crash', () => {
  let rig: ChildRelay | undefined;
  let farm: OpenStageFarm | undefined;

  afterAll(async () => {
    await rig?.close();
    await farm?.close();
  });

  it('after a SIGKILL and restart within the minute the phone is not contacted again', async () => {
    farm = await OpenStageFarm.start({ count: 2, firstIndex: 5_000 + (process.pid % 400) * 5 });
    rig = await startChildRelay('cr-os-minute-');
    const { sim } = rig;
    const relayId = await rig.connected();
    const first = sim.submitTask(relayId, { command: { kind: 'getParams', args: { names: ['e164'] } }, targets: [farm.target(0)] });
    await waitFor(() => resultsOf(sim, relayId, first.taskId).size === 1, { timeoutMs: 20_000, message: 'first read' });
    expect(resultsOf(sim, relayId, first.taskId).get(farm.target(0).deviceId)?.outcome).toBe('success');
    await rig.kill();
    rig.restart();
    await rig.connected();
    // Expires long before the minute is over: the relay must refuse rather than wait or ask again.
    const again = sim.submitTask(relayId, {
      command: { kind: 'getParams', args: { names: ['e164'] } },
      targets: [farm.target(0), farm.target(1)],
      expiresAt: new Date(Date.now() + 20_000).toISOString(),
    });
    await waitFor(() => resultsOf(sim, relayId, again.taskId).size === 2, { timeoutMs: 20_000, message: 'results after the restart' });
    const r = resultsOf(sim, relayId, again.taskId);
    expect(r.get(farm.target(0).deviceId)).toMatchObject({
      outcome: 'failure',
      reason: expect.stringMatching(/was sent a contact-me \d+ s ago.*task expires before the next is allowed/),
    });
    expect(r.get(farm.target(1).deviceId)?.outcome).toBe('success');
    expect(farm.phone(0).contactMes).toBe(1);
    expect(farm.phone(1).contactMes).toBe(1);
  }, 90_000);
});
