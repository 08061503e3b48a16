import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { spawnRelay, type RelayProcess } from '../helpers/child.js';
import { tempDir, writeRelayConfig } from '../helpers/relay-config.js';
import { waitFor } from '../helpers/wait.js';
import { sharedDmsPki } from '../helpers/pki-cache.js';

const TOTAL = 1000;

/**
 * The "nothing lost" proof: the relay (a real child process running dist/cli.js)
 * queues 1,000 frames through its durable outbox (test-only emitter, CLOUD_RELAY_TEST_EMIT)
 * while the DMS drops the connection every 150 frames without acking the last one, and the
 * relay is SIGKILLed once mid-run and started again. The DMS must end with every id exactly
 * once, in creation order.
 */
describe('nothing lost: 1,000 frames through drops and a SIGKILL', () => {
  let sim: DmsSimulator;
  let dir: string;
  const procs: RelayProcess[] = [];
  beforeAll(async () => {
    sim = await startDmsSimulator({ ...sharedDmsPki(), heartbeatIntervalSeconds: 5 });
    dir = tempDir('cr-nothing-lost-');
  });
  afterAll(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the DMS ends with all 1,000 ids exactly once, in order', async () => {
    const configFile = writeRelayConfig(dir, { dmsUrl: sim.url, caPem: sim.caPem, dataDir: join(dir, 'data'), extra: { logLevel: 'info' } });
    const env = { CLOUD_RELAY_TEST_EMIT: String(TOTAL), CLOUD_RELAY_TEST_EMIT_RATE: '250' };
    sim.setFaults({ dropEveryNFrames: 150 });

    const first = spawnRelay(configFile, { env });
    procs.push(first);
    const relayId = await waitFor(() => sim.relays()[0]?.relayId, { timeoutMs: 15_000, message: 'relay registered' });
    await waitFor(() => sim.received(relayId, 'device.event').length >= 350, { timeoutMs: 30_000, message: '350 frames received before the kill' });
    first.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    const atKill = sim.received(relayId, 'device.event').length;
    expect(atKill).toBeLessThan(TOTAL);

    const second = spawnRelay(configFile, { env });
    procs.push(second);
    // Every drop lands inside 20 s of connecting, so the relay's reconnect backoff keeps growing
    // (full jitter, capped at 60 s, as the protocol says): the waits allow for a full cap.
    await waitFor(() => sim.received(relayId, 'device.event').length >= TOTAL, { timeoutMs: 150_000, message: `all ${TOTAL} frames received` });
    // The last frames may have been dropped unacked: stop the faults and let the resends land,
    // then check nothing extra appeared.
    sim.setFaults({ dropEveryNFrames: 0 });
    const admin = await second.adminUrl();
    await waitFor(async () => ((await (await fetch(`${admin}/status`)).json()) as { managementAgent: { outboxDepth: number } }).managementAgent.outboxDepth === 0, { timeoutMs: 75_000, message: 'relay outbox drained' });

    const frames = sim.received(relayId, 'device.event');
    expect(frames).toHaveLength(TOTAL);
    expect(new Set(frames.map((f) => f.id)).size).toBe(TOTAL);
    expect(frames.map((f) => (f.frame.event as { n: number }).n)).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
    // The drops really happened and the DMS deduped resent frames; one relay, same id after the restart.
    expect(sim.relay(relayId)!.duplicates).toBeGreaterThan(0);
    expect(sim.relays()).toHaveLength(1);
    expect(sim.relay(relayId)!.registrations).toBe(1);
    second.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  }, 300_000);
});
