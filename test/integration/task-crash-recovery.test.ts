import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { PhoneFarm } from '../../sim/phone/farm.js';
import { spawnRelay, type RelayProcess } from '../helpers/child.js';
import { tempDir, writeRelayConfig } from '../helpers/relay-config.js';
import { resultsOf } from '../helpers/devices.js';
import { waitFor } from '../helpers/wait.js';

/**
 * PROTOCOL §3 crash semantics with a real crash: the relay process is SIGKILLed while its
 * commands are on the wire. After the restart a dial that may have reached the phone is
 * reported "interrupted" and never repeated; a read-only command is run again.
 */
describe('task crash recovery', () => {
  let sim: DmsSimulator | undefined;
  let farm: PhoneFarm | undefined;
  let relay: RelayProcess | undefined;
  const dir = tempDir('cr-crash-');

  afterAll(async () => {
    relay?.kill('SIGKILL');
    await relay?.exited;
    await farm?.close();
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a killed relay reports the in-flight dial as interrupted and re-runs getParams', async () => {
    sim = await startDmsSimulator();
    farm = await PhoneFarm.start({ count: 4, firstIndex: 6000 + (process.pid % 50) * 100, faults: { delayMs: 1_500 } });
    // The reads answer much later than the dials, so both are in flight when the relay dies.
    farm.phone(2).faults = { delayMs: 5_000 };
    farm.phone(3).faults = { delayMs: 5_000 };
    const configFile = writeRelayConfig(dir, { dmsUrl: sim.url, caPem: sim.caPem, dataDir: join(dir, 'data'), extra: { logLevel: 'info' } });
    relay = spawnRelay(configFile);
    const relayId = await waitFor(() => sim!.relays().find((r) => r.connected)?.relayId, { timeoutMs: 20_000, message: 'relay connected' });
    const dial = sim.submitTask(relayId, { command: { kind: 'dial', args: { to: '4711' } }, targets: [farm.target(0), farm.target(1)] });
    const read = sim.submitTask(relayId, { command: { kind: 'getParams', args: { names: ['device.sntp.serverName'] } }, targets: [farm.target(2), farm.target(3)] });
    // The dial request has arrived at both phones (they answer 1.5 s later) and the reads too.
    await waitFor(
      () => [0, 1].every((i) => farm!.phone(i).hits.get('/api/v1/callctrl/dial') === 1) && [2, 3].every((i) => farm!.phone(i).hits.get('/api/v1/mgmt/config/get') === 1),
      { timeoutMs: 15_000, message: 'commands on the wire' },
    );
    relay.kill('SIGKILL');
    await relay.exited;
    for (const p of farm.phones) p.phone.faults = {};
    relay = spawnRelay(configFile);
    await waitFor(() => resultsOf(sim!, relayId, dial.taskId).size === 2 && resultsOf(sim!, relayId, read.taskId).size === 2, {
      timeoutMs: 20_000,
      message: 'results after the restart',
    });
    for (const r of resultsOf(sim, relayId, dial.taskId).values()) expect(r).toMatchObject({ outcome: 'failure', reason: expect.stringMatching(/^interrupted/) });
    for (const r of resultsOf(sim, relayId, read.taskId).values()) expect(r).toMatchObject({ outcome: 'success', data: { values: { 'device.sntp.serverName': 'pool.ntp.org' } } });
    expect(farm.phone(0).hits.get('/api/v1/callctrl/dial')).toBe(1);
    expect(farm.phone(2).hits.get('/api/v1/mgmt/config/get')).toBe(2);
    await waitFor(() => sim!.received(relayId, 'task.state').some((f) => f.frame.taskId === dial.taskId && f.frame.state === 'done'), { message: 'dial task done' });
  });
});
