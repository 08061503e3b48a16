import { direct, startPhoneWorkers, startRelayChild, startSim, table, throughRelay } from './device-bench.js';

/**
 * bench:monitor — one status poll of 50,000 simulated phones (each answers after 50 ms)
 * through the relay (a `status` task: device info, lines, call state per phone), against the
 * floor of a bare undici client making the same three calls with the same concurrency.
 * Phones live in worker processes of at most 12,500 each (one listening socket per phone
 * under a 20,000 descriptor limit). Loopback only; bounded in count and time.
 */
const PHONES = Number(process.env.BENCH_PHONES ?? 50_000);
const CONCURRENCY = 64;
const TIMEOUT_MS = 20 * 60_000;

async function main(): Promise<void> {
  const guard = setTimeout(() => {
    console.error('bench:monitor: overall time limit (30 min) reached');
    process.exit(1);
  }, 30 * 60_000);
  guard.unref();
  console.log(`bench:monitor: starting ${PHONES} simulated phones on 127.20.x.y …`);
  const phones = await startPhoneWorkers(PHONES, 12_500, { delayMs: 50, rebootOfflineMs: 500 });
  const sim = await startSim();
  try {
    console.log('floor: bare undici, straight to the phones …');
    const floor = await direct(phones.targets, CONCURRENCY, [
      { method: 'GET', path: '/api/v2/mgmt/device/info' },
      { method: 'GET', path: '/api/v2/mgmt/lineInfo' },
      { method: 'GET', path: '/api/v2/webCallControl/callStatus' },
    ]);
    const relay = await startRelayChild(sim, { concurrency: CONCURRENCY });
    console.log('relay: status task → all results acked …');
    const run = await throughRelay(sim, relay.relayId, { kind: 'status' }, phones.targets, { chunk: 2_000, timeoutMs: TIMEOUT_MS });
    const peak = relay.peakRssMB();
    const statuses = sim.received(relay.relayId, 'device.status').length;
    await relay.stop();
    console.log(
      table([
        ['phones', String(PHONES)],
        ['concurrency', String(CONCURRENCY)],
        ['relay seconds (submit → all acked)', run.seconds.toFixed(2)],
        ['relay outcomes', JSON.stringify(run.outcomes)],
        ...run.reasons.map((r, i): [string, string] => [`failure reason ${i + 1}`, r]),
        ['device.status frames at the DMS', String(statuses)],
        ['floor seconds (bare undici)', floor.seconds.toFixed(2)],
        ['floor failures', String(floor.failures)],
        ['relay / floor', (run.seconds / floor.seconds).toFixed(2)],
        ['relay peak RSS (MB)', String(peak)],
      ]),
    );
    console.log(JSON.stringify({ bench: 'monitor', phones: PHONES, seconds: Number(run.seconds.toFixed(2)), directSeconds: Number(floor.seconds.toFixed(2)), peakRssMB: peak }));
  } finally {
    await sim.close();
    await phones.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error('bench:monitor failed:', err);
    process.exit(1);
  },
);
