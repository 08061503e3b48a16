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
    rig = await startChildRelay('cr-os-crash-', { devices: { requestTimeoutMs: 6_000 } });
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
