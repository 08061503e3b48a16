import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { Client } from 'undici';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { spawnRelay, type RelayProcess } from '../helpers/child.js';
import { tempDir, writeRelayConfig } from '../helpers/relay-config.js';
import { waitFor } from '../helpers/wait.js';
import { sharedDmsPki } from '../helpers/pki-cache.js';
import { PFX_PASS, phoneClient, relayPki } from '../helpers/phone-client.js';

const TOTAL = 1000;
/** Notifications per second the phone sends: slow enough that drops and the kill land mid-stream. */
const RATE = 250;

/** A Polycom telephony notification carrying its sequence number. */
function notification(n: number): string {
  return `<PolycomIPPhone><IncomingCallEvent><PhoneIP>127.20.0.5</PhoneIP><MACAddress>0004f2000001</MACAddress><CallingPartyNumber>${n}</CallingPartyNumber></IncomingCallEvent></PolycomIPPhone>`;
}

async function phonePort(relay: RelayProcess): Promise<number> {
  // Generous: on a loaded machine a relay start takes well over the helper's default 15 s.
  const line = await relay.waitForLog((l) => l.msg === 'cloud-relay started', 90_000);
  return (line.https as { port: number }).port;
}

/**
 * The "nothing lost" proof: a phone POSTs 1,000 telephony notifications to the relay (a real
 * child process running dist/cli.js), each of which the relay turns into a device.event frame
 * in its durable outbox, while the DMS drops the connection every 150 frames without acking the
 * last one, and the relay is SIGKILLed once mid-run (with notifications it answered still
 * waiting in its outbox) and started again. Every notification the
 * relay answered is durable: the DMS must end with every frame id exactly once, carrying the
 * notifications in the order the phone sent them.
 */
describe('nothing lost: 1,000 frames through drops and a SIGKILL', () => {
  let sim: DmsSimulator;
  let dir: string;
  const procs: RelayProcess[] = [];
  const clients: Client[] = [];
  beforeAll(async () => {
    sim = await startDmsSimulator({ ...sharedDmsPki(), heartbeatIntervalSeconds: 5 });
    dir = tempDir('cr-nothing-lost-');
  });
  afterAll(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await Promise.all(clients.map((c) => c.destroy()));
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the DMS ends with all 1,000 ids exactly once, in order', async () => {
    const pki = relayPki(dir, sim.ca);
    const configFile = writeRelayConfig(dir, {
      dmsUrl: sim.url,
      caPem: sim.caPem,
      dataDir: join(dir, 'data'),
      extra: { logLevel: 'info', pfxFile: pki.pfxFile, pfxPassphrase: PFX_PASS },
    });
    sim.setFaults({ dropEveryNFrames: 150 });

    // The phone: one notification at a time, each answered (204) before the next, at RATE per
    // second. It pauses between two notifications for the kill, so every notification it sent
    // was answered by the relay, i.e. is in the relay's outbox.
    let next = 0;
    let paused = false;
    const send = async (client: Client, until: () => boolean) => {
      while (next < TOTAL && !until()) {
        const res = await client.request({ method: 'POST', path: '/telnotify', headers: { 'content-type': 'application/xml' }, body: notification(next) });
        await res.body.dump();
        expect(res.statusCode).toBe(204);
        next++;
        await delay(1000 / RATE);
      }
    };

    const first = spawnRelay(configFile);
    procs.push(first);
    const firstClient = phoneClient(await phonePort(first), pki.root.certPem);
    clients.push(firstClient);
    const relayId = await waitFor(() => sim.relays()[0]?.relayId, { timeoutMs: 15_000, message: 'relay registered' });
    const sending = send(firstClient, () => paused);
    await waitFor(() => sim.received(relayId, 'device.event').length >= 350, { timeoutMs: 30_000, message: '350 frames received before the kill' });
    // Cut the control channel and keep it down, so the next 50 notifications exist only in the
    // relay's outbox when it is killed.
    sim.setFaults({ refuseUpgradesForMs: 300_000 });
    sim.disconnect(relayId);
    const sentAtCut = next;
    await waitFor(() => next >= sentAtCut + 50, { timeoutMs: 30_000, message: '50 notifications while the DMS is unreachable' });
    paused = true;
    await sending;
    first.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    const atKill = sim.received(relayId, 'device.event').length;
    expect(atKill).toBeLessThan(TOTAL);
    expect(next - atKill, 'notifications answered but not yet at the DMS when the relay was killed').toBeGreaterThanOrEqual(50);

    sim.setFaults({ refuseUpgradesForMs: 0 });
    const second = spawnRelay(configFile);
    procs.push(second);
    const secondClient = phoneClient(await phonePort(second), pki.root.certPem);
    clients.push(secondClient);
    await send(secondClient, () => false);
    // Every drop lands inside 20 s of connecting, so the relay's reconnect backoff keeps growing
    // (full jitter, capped at 60 s, as the protocol says): the waits allow for a full cap.
    await waitFor(() => sim.received(relayId, 'device.event').length >= TOTAL, { timeoutMs: 150_000, message: `all ${TOTAL} frames received` });
    // The last frames may have been dropped unacked: stop the faults and let the resends land,
    // then check nothing extra appeared.
    sim.setFaults({ dropEveryNFrames: 0 });
    const admin = await second.adminUrl();
    await waitFor(async () => ((await (await fetch(`${admin}/status`)).json()) as { managementAgent: { outboxDepth: number } }).managementAgent.outboxDepth === 0, {
      timeoutMs: 75_000,
      message: 'relay outbox drained',
    });

    const frames = sim.received(relayId, 'device.event');
    expect(frames).toHaveLength(TOTAL);
    expect(new Set(frames.map((f) => f.id)).size).toBe(TOTAL);
    expect(frames.map((f) => Number((f.frame.event as { CallingPartyNumber: string }).CallingPartyNumber))).toEqual(Array.from({ length: TOTAL }, (_, i) => i));
    // The drops really happened and the DMS deduped resent frames; one relay, same id after the restart.
    expect(sim.relay(relayId)!.duplicates).toBeGreaterThan(0);
    expect(sim.relays()).toHaveLength(1);
    expect(sim.relay(relayId)!.registrations).toBe(1);
    second.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  }, 300_000);
});
