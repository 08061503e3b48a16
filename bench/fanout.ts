import { direct, startPhoneWorkers, startRelayChild, startSim, table, throughRelay } from './device-bench.js';

/**
 * bench:fanout — reboot 10,000 simulated phones (each answers after 50 ms) through the relay:
 * seconds from task.submit until the DMS simulator has every result, the relay's peak RSS,
 * and the floor: a bare undici client with the same concurrency making the same calls
 * (call state, then safeReboot) straight to the phones. Loopback only; bounded in count and time.
 */
const PHONES = Number(process.env.BENCH_PHONES ?? 10_000);
const CONCURRENCY = 64;
const TIMEOUT_MS = 10 * 60_000;

async function main(): Promise<void> {
  const guard = setTimeout(() => {
    console.error('bench:fanout: overall time limit (15 min) reached');
    process.exit(1);
  }, 15 * 60_000);
  guard.unref();
  console.log(`bench:fanout: starting ${PHONES} simulated phones on 127.20.x.y …`);
  const phones = await startPhoneWorkers(PHONES, 5_000, { delayMs: 50, rebootOfflineMs: 500 });
  const sim = await startSim();
  try {
    console.log('floor: bare undici, straight to the phones …');
    const floor = await direct(phones.targets, CONCURRENCY, [
      { method: 'GET', path: '/api/v2/webCallControl/callStatus' },
      { method: 'POST', path: '/api/v1/mgmt/safeReboot' },
    ]);
    // Every phone rebooted by the floor must be back before the relay's turn.
    await new Promise((r) => setTimeout(r, 2_000));
    const relay = await startRelayChild(sim, { concurrency: CONCURRENCY });
    console.log('relay: task.submit → all results acked …');
    const run = await throughRelay(sim, relay.relayId, { kind: 'reboot' }, phones.targets, { chunk: 2_000, timeoutMs: TIMEOUT_MS });
    const peak = relay.peakRssMB();
    // A phone reboots ~100 ms after acknowledging; let the last ones go down before counting.
    await new Promise((r) => setTimeout(r, 1_000));
    const reboots = await phones.count('reboots');
    await relay.stop();
    console.log(
      table([
        ['phones', String(PHONES)],
        ['concurrency', String(CONCURRENCY)],
        ['relay seconds (submit → all acked)', run.seconds.toFixed(2)],
        ['relay outcomes', JSON.stringify(run.outcomes)],
        ...run.reasons.map((r, i): [string, string] => [`failure reason ${i + 1}`, r]),
        ['floor seconds (bare undici)', floor.seconds.toFixed(2)],
        ['floor failures', String(floor.failures)],
        ['relay / floor', (run.seconds / floor.seconds).toFixed(2)],
        ['phone reboots seen by the phones', String(reboots)],
        ['relay peak RSS (MB)', String(peak)],
      ]),
    );
    console.log(JSON.stringify({ bench: 'fanout', phones: PHONES, seconds: Number(run.seconds.toFixed(2)), directSeconds: Number(floor.seconds.toFixed(2)), peakRssMB: peak }));
  } finally {
    await sim.close();
    await phones.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error('bench:fanout failed:', err);
    process.exit(1);
  },
);
