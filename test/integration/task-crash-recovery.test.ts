import { afterAll, describe, expect, it } from 'vitest';
import { PhoneFarm } from '../../sim/phone/farm.js';
import { startChildRelay, type ChildRelay } from '../helpers/child-relay.js';
import { resultsOf } from '../helpers/devices.js';
import { waitFor } from '../helpers/wait.js';

/**
 * PROTOCOL §3 crash semantics with a real crash: the relay process is SIGKILLed while its
 * commands are on the wire. After the restart a dial that may have reached the phone is
 * reported "interrupted" and never repeated; a read-only command is run again.
 */
describe('task crash recovery', () => {
  let rig: ChildRelay | undefined;
  let farm: PhoneFarm | undefined;

  afterAll(async () => {
    await rig?.close();
    await farm?.close();
  });

  // Two starts of the built relay as a child process: seconds each on a loaded machine.
  it('a killed relay reports the in-flight dial as interrupted and re-runs getParams', async () => {
    farm = await PhoneFarm.start({ count: 4, firstIndex: 6000 + (process.pid % 50) * 100, faults: { delayMs: 1_500 } });
    // The reads answer much later than the dials, so both are in flight when the relay dies.
    farm.phone(2).faults = { delayMs: 5_000 };
    farm.phone(3).faults = { delayMs: 5_000 };
    rig = await startChildRelay('cr-crash-');
    const { sim } = rig;
    const relayId = await rig.connected();
    const dial = sim.submitTask(relayId, { command: { kind: 'dial', args: { to: '4711' } }, targets: [farm.target(0), farm.target(1)] });
    const read = sim.submitTask(relayId, { command: { kind: 'getParams', args: { names: ['device.sntp.serverName'] } }, targets: [farm.target(2), farm.target(3)] });
    // The dial request has arrived at both phones (they answer 1.5 s later) and the reads too.
    await waitFor(
      () => [0, 1].every((i) => farm!.phone(i).hits.get('/api/v1/callctrl/dial') === 1) && [2, 3].every((i) => farm!.phone(i).hits.get('/api/v1/mgmt/config/get') === 1),
      { timeoutMs: 15_000, message: 'commands on the wire' },
    );
    await rig.kill();
    for (const p of farm.phones) p.phone.faults = {};
    rig.restart();
    await waitFor(() => resultsOf(sim, relayId, dial.taskId).size === 2 && resultsOf(sim, relayId, read.taskId).size === 2, {
      timeoutMs: 20_000,
      message: 'results after the restart',
    });
    for (const r of resultsOf(sim, relayId, dial.taskId).values()) expect(r).toMatchObject({ outcome: 'failure', reason: expect.stringMatching(/^interrupted/) });
    for (const r of resultsOf(sim, relayId, read.taskId).values()) expect(r).toMatchObject({ outcome: 'success', data: { values: { 'device.sntp.serverName': 'pool.ntp.org' } } });
    expect(farm.phone(0).hits.get('/api/v1/callctrl/dial')).toBe(1);
    expect(farm.phone(2).hits.get('/api/v1/mgmt/config/get')).toBe(2);
    await waitFor(() => sim.received(relayId, 'task.state').some((f) => f.frame.taskId === dial.taskId && f.frame.state === 'done'), { message: 'dial task done' });
  }, 90_000);
});
