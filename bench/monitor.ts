import { runDeviceBench } from './device-bench.js';

/**
 * bench:monitor — one status poll of 50,000 simulated phones (each answers after 50 ms)
 * through the relay (a `status` task: device info, lines, call state per phone), against the
 * floor of a bare undici client making the same three calls with the same concurrency.
 * Phones live in worker processes of at most 12,500 each (one listening socket per phone
 * under a 20,000 descriptor limit). Loopback only; bounded in count and time.
 */
runDeviceBench({
  name: 'monitor',
  phones: Number(process.env.BENCH_PHONES ?? 50_000),
  perWorker: 12_500,
  concurrency: 64,
  goal: { vsFloor: 1.1, peakRssMB: 300 },
  floorCalls: [
    { method: 'GET', path: '/api/v2/mgmt/device/info' },
    { method: 'GET', path: '/api/v2/mgmt/lineInfo' },
    { method: 'GET', path: '/api/v2/webCallControl/callStatus' },
  ],
  command: { kind: 'status' },
  timeoutMs: 20 * 60_000,
  hardLimitMs: 30 * 60_000,
  async extraRows({ sim, relayId }) {
    return [['device.status frames at the DMS', String(sim.received(relayId, 'device.status').length)]];
  },
});
