import { afterEach, describe, expect, it } from 'vitest';
import { startDmsSimulator } from '../../sim/dms/index.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { ManualClock } from '../helpers/clock.js';
import { waitFor, waitForEvent } from '../helpers/wait.js';
import { sharedDmsPki } from '../helpers/pki-cache.js';

describe('heartbeat (PROTOCOL §2)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('sends the first heartbeat right after registration, then at the DMS interval, with real status fields', async () => {
    h = await startHarness({ sim: { heartbeatIntervalSeconds: 1 }, startRelay: false });
    const seen: { at: number; body: Record<string, unknown> }[] = [];
    h.sim.events.on('heartbeat', (e: { body: Record<string, unknown> }) => seen.push({ at: Date.now(), body: e.body }));
    const registeredAt = waitForEvent<{ relayId: string }>(h.sim.events, 'registered').then(() => Date.now());
    // A fresh data dir: the first heartbeat also waits for the self-signed stand-in certificate
    // (generated alongside registration; seconds on a busy host) so that it can report it.
    const certAt = waitForEvent<string>(h.logs.events, 'line', (l) => l.includes('CERT_SELF_SIGNED'), 30_000).then(() => Date.now());
    await h.startRelay();
    const relayId = await h.connected();
    // The first beat waits for the stand-in certificate, which takes seconds on a loaded host.
    await waitFor(() => seen.length >= 3, { message: 'three heartbeats', timeoutMs: 30_000 });
    expect(seen[0]!.at - Math.max(await registeredAt, await certAt)).toBeLessThan(2_000);
    for (let i = 1; i < 3; i++) {
      const gap = seen[i]!.at - seen[i - 1]!.at;
      expect(gap).toBeGreaterThanOrEqual(900);
      expect(gap).toBeLessThan(3_500);
    }
    const body = seen[2]!.body;
    expect(body.seq).toBe((seen[0]!.body.seq as number) + 2);
    expect(body).toMatchObject({
      version: expect.any(String),
      uptimeSeconds: expect.any(Number),
      control: { connected: true, since: expect.any(String) },
      cache: { bytes: expect.any(Number), objects: expect.any(Number), hits: expect.any(Number), misses: expect.any(Number) },
      images: { synced: expect.any(Number), syncing: expect.any(Number), failed: expect.any(Number) },
      devices: { known: expect.any(Number), online: expect.any(Number) },
      tasks: { scheduled: expect.any(Number), running: expect.any(Number), rollouts: { active: 0, devicesUpgrading: 0, devicesWaitingIdle: 0 } },
      outboxDepth: 0,
    });
    expect(h.sim.relay(relayId)?.state).toBe('Active');
  }, 60_000);

  it('carries the phone certificate from the very first heartbeat after a fresh start (PROTOCOL §2 cert is an object)', async () => {
    // A fresh data dir and no PFX: the self-signed stand-in is generated during this start.
    h = await startHarness({ sim: { heartbeatIntervalSeconds: 1 }, startRelay: false });
    // It waits for the stand-in certificate: seconds on a loaded host.
    const first = waitForEvent<{ body: Record<string, unknown> }>(h.sim.events, 'heartbeat', () => true, 30_000);
    await h.startRelay();
    const { body } = await first;
    expect(body.seq).toBe(1);
    expect(body.cert).toMatchObject({ subject: h.config.fqdn, sans: [h.config.fqdn], notAfter: expect.any(String), valid: expect.any(Boolean), selfSigned: true });
  }, 60_000);

  it('never heartbeats faster than the minimum interval, whatever the DMS asks', async () => {
    h = await startHarness({ sim: { heartbeatIntervalSeconds: 1 }, tuning: { heartbeatMinIntervalMs: 2_000 } });
    const relayId = await h.registered();
    await waitFor(() => h!.sim.heartbeats(relayId).length >= 2, { timeoutMs: 6_000 });
    const [a, b] = h.sim.heartbeats(relayId);
    expect(b!.at - a!.at).toBeGreaterThanOrEqual(1_900);
  });

  it('obeys actions: reregister registers again; resync-images reaches the images.sync handler', async () => {
    h = await startHarness({ sim: { heartbeatIntervalSeconds: 1 }, startRelay: false });
    const calls: string[] = [];
    // What the images part registers; here a stand-in so the action is observable.
    const origStart = h.startRelay;
    const d = await origStart();
    d.inbound['images.sync'] = (f) => calls.push(f.id);
    const relayId = await h.registered();
    h.sim.queueAction(relayId, 'resync-images');
    h.sim.queueAction(relayId, 'reregister');
    await waitFor(() => calls.length === 1 && (h!.sim.relay(relayId)?.registrations ?? 0) >= 2, { timeoutMs: 10_000, message: 'images.sync handled and registered again' });
    expect(calls[0]).toMatch(/^heartbeat-/);
  });

  it('a 401 on heartbeat makes the relay register again', async () => {
    h = await startHarness({ sim: { heartbeatIntervalSeconds: 1 } });
    // Connected first: a control upgrade still under way would otherwise be the one to meet the revoked token.
    const relayId = await h.connected();
    await waitFor(() => h!.sim.heartbeats(relayId).length >= 1);
    h.sim.revokeToken(relayId);
    await waitFor(() => (h!.sim.relay(relayId)?.registrations ?? 0) >= 2, { timeoutMs: 10_000, message: 'registered again after the 401' });
    expect(h.logs.find((l) => l.reason === 'heartbeat answered 401')).toBeDefined();
  });

  it('the DMS marks a relay Inactive after 10 minutes without a heartbeat', async () => {
    const clock = new ManualClock();
    const sim = await startDmsSimulator({ ...sharedDmsPki(), clock, heartbeatIntervalSeconds: 120 });
    try {
      h = await startHarness({ existingSim: sim });
      const relayId = await h.registered();
      await waitFor(() => sim.relay(relayId)?.heartbeats === 1);
      expect(sim.relay(relayId)?.state).toBe('Active');
      await h.close();
      h = undefined;
      clock.advance(9 * 60_000);
      expect(sim.relay(relayId)?.state).toBe('Active');
      clock.advance(60_000);
      expect(sim.relay(relayId)?.state).toBe('Inactive');
      const listed = (await (await fetch(`${sim.adminUrl}/api/relays`)).json()) as { relayId: string; state: string }[];
      expect(listed.find((r) => r.relayId === relayId)?.state).toBe('Inactive');
    } finally {
      await sim.close();
    }
  });

  it('a DMS serverTime far off is logged as a clock-skew error of its own', async () => {
    h = await startHarness({ sim: { heartbeatIntervalSeconds: 1 }, startRelay: false });
    h.sim.setFaults({ serverTimeOffsetMs: 3 * 3600_000 });
    await h.startRelay();
    // Seen on the first heartbeat, which waits for the stand-in certificate (seconds on a loaded host).
    await waitFor(() => h!.logs.withCode('CLOCK_SKEW').length > 0, { timeoutMs: 30_000, message: 'CLOCK_SKEW logged' });
    const line = h.logs.withCode('CLOCK_SKEW')[0]!;
    expect(line.level).toBe('error');
    expect(line.msg).toMatch(/local clock is \d+ s behind the DMS/);
  }, 60_000);

  it('keeps heartbeating while the control channel is down, and reports it as down', async () => {
    h = await startHarness({ sim: { heartbeatIntervalSeconds: 1 } });
    const relayId = await h.connected();
    // Refused for longer than the test runs: a slow machine must not see the channel come back
    // (and a heartbeat say "connected") before the two beats below are in.
    h.sim.setFaults({ refuseUpgradesForMs: 120_000 });
    h.sim.disconnect(relayId);
    await waitFor(() => !h!.daemon.agent!.control.connected);
    const before = h.sim.heartbeats(relayId).length;
    await waitFor(() => h!.sim.heartbeats(relayId).length >= before + 2, { timeoutMs: 10_000, message: 'two heartbeats while the channel is down' });
    const during = h.sim.heartbeats(relayId).slice(before);
    expect(during.every((b) => (b.body.control as { connected: boolean }).connected === false)).toBe(true);
    expect(h.sim.connected(relayId)).toBe(false);
  });
});
