import { runDeviceBench } from './device-bench.js';

/**
 * bench:fanout — reboot 10,000 simulated phones (each answers after 50 ms) through the relay:
 * seconds from task.submit until the DMS simulator has every result, the relay's peak RSS,
 * and the floor: a bare undici client with the same concurrency making the same calls
 * (call state, then safeReboot) straight to the phones. Loopback only; bounded in count and time.
 */
runDeviceBench({
  name: 'fanout',
  phones: Number(process.env.BENCH_PHONES ?? 10_000),
  perWorker: 5_000,
  concurrency: 64,
  goal: { vsFloor: 1.1, peakRssMB: 300 },
  floorCalls: [
    { method: 'GET', path: '/api/v2/webCallControl/callStatus' },
    { method: 'POST', path: '/api/v1/mgmt/safeReboot' },
  ],
  command: { kind: 'reboot' },
  timeoutMs: 10 * 60_000,
  hardLimitMs: 15 * 60_000,
  // Every phone rebooted by the floor must be back before the relay's turn.
  settleMs: 2_000,
  async extraRows({ phones }) {
    // A phone reboots ~100 ms after acknowledging; let the last ones go down before counting.
    await new Promise((r) => setTimeout(r, 1_000));
    return [['phone reboots seen by the phones', String(await phones.count('reboots'))]];
  },
});
