import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { Harness } from '../helpers/harness.js';
import { runTask, startRelayWithPhones } from '../helpers/devices.js';
import type { PhoneFarm } from '../../sim/phone/farm.js';

/**
 * The pushed metrics move when the real thing happens: a task through the DMS simulator to
 * simulated phones, read back from the relay's /metrics. Counters are process-wide, so the
 * test compares before and after instead of absolute values.
 */
function sample(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('metrics follow device commands', () => {
  let h: Harness;
  let farm: PhoneFarm;
  let relayId: string;

  beforeAll(async () => {
    ({ h, relayId, farm } = await startRelayWithPhones({
      count: 2,
      firstIndex: 40_000 + (process.pid % 50) * 10,
      onError: (p, what, err) => console.error('phone', p.mac, what, err),
    }));
  });

  afterAll(async () => {
    await farm?.close();
    await h?.close();
  });

  const scrape = async () => (await request(`${h.adminUrl()}/metrics`)).body.text();

  it('counts outcomes per command kind and observes their latency', async () => {
    const before = await scrape();
    // The DMS holds a wrong password for phone 1: the phone refuses it (a final failure, no retry).
    const wrongPassword = { ...farm.target(1), credentials: { user: 'Polycom', password: 'not-the-password' } };
    const results = await runTask(h.sim, relayId, { command: { kind: 'getParams', args: { names: ['device.sntp.serverName'] } }, targets: [farm.target(0), wrongPassword] });
    expect(results.get(farm.target(0).deviceId)?.outcome).toBe('success');
    expect(results.get(wrongPassword.deviceId)?.outcome).toBe('failure');
    const after = await scrape();
    const delta = (name: string, labels: string) => sample(after, name, labels) - sample(before, name, labels);
    expect(delta('cloud_relay_device_commands_total', '{kind="getParams",outcome="success"}')).toBe(1);
    expect(delta('cloud_relay_device_commands_total', '{kind="getParams",outcome="failure"}')).toBe(1);
    expect(delta('cloud_relay_device_command_duration_seconds_count', '{kind="getParams"}')).toBe(2);
    expect(delta('cloud_relay_device_command_duration_seconds_bucket', '{le="+Inf",kind="getParams"}')).toBe(2);
    expect(sample(after, 'cloud_relay_control_connected', '')).toBe(1);
  });
});
