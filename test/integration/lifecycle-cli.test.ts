import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { spawnCli, spawnRelay, type RelayProcess } from '../helpers/child.js';
import { tempDir, writeRelayConfig } from '../helpers/relay-config.js';
import { waitFor, waitForEvent } from '../helpers/wait.js';
import { sharedDmsPki } from '../helpers/pki-cache.js';

const PIN = 'pin-493027-SECRET';

async function run(p: RelayProcess): Promise<{ code: number | null; out: string; err: string }> {
  const { code } = await p.exited;
  return { code, out: p.stdout.join('\n'), err: p.stderr.join('\n') };
}

describe('relay process lifecycle and the register command', () => {
  let sim: DmsSimulator;
  let dir: string;
  const procs: RelayProcess[] = [];
  beforeAll(async () => {
    sim = await startDmsSimulator({ ...sharedDmsPki(), tenants: { 't-4711': PIN }, heartbeatIntervalSeconds: 5 });
    dir = tempDir('cr-lifecycle-');
  });
  afterAll(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGTERM: closes the control channel with 1001 and exits 0; no secret in its log', async () => {
    const configFile = writeRelayConfig(join(tempDir('cr-life-a-')), { dmsUrl: sim.url, caPem: sim.caPem, pin: PIN, dataDir: join(dir, 'a') });
    const p = spawnRelay(configFile);
    procs.push(p);
    const relayId = await waitFor(() => sim.relays().find((r) => r.connected)?.relayId, { timeoutMs: 30_000, message: 'relay connected' });
    await waitFor(() => sim.heartbeats(relayId).length >= 1);
    const closed = waitForEvent<{ relayId: string; code: number }>(sim.events, 'disconnected', (e) => e.relayId === relayId);
    p.kill('SIGTERM');
    expect((await closed).code).toBe(1001);
    const { code, out } = await run(p);
    expect(code).toBe(0);
    expect(out).toContain('cloud-relay stopped');
    expect(out).toContain('registered with the DMS');
    expect(out).not.toContain(PIN);
    const token = sim.relayBook.get(relayId)!.token;
    expect(out).not.toContain(token);
  });

  it('register --tenant --pin: stores the credentials, registers once and prints the outcome; a wrong PIN is refused clearly', async () => {
    const configFile = writeRelayConfig(tempDir('cr-life-b-'), { dmsUrl: sim.url, caPem: sim.caPem, pin: 'config-pin-wrong', dataDir: join(dir, 'b') });
    const bad = spawnCli(undefined, { args: ['register', '--config', configFile, '--tenant', 't-4711', '--pin', 'nope-123'] });
    procs.push(bad);
    const r1 = await run(bad);
    expect(r1.code).toBe(1);
    expect(r1.err).toContain('tenant ID or PIN rejected by the DMS');

    const good = spawnCli(undefined, { args: ['register', '--config', configFile, '--tenant', 't-4711', '--pin', PIN] });
    procs.push(good);
    const r2 = await run(good);
    expect(r2.code).toBe(0);
    const relayId = /relay id\s+(\S+)/.exec(r2.out)?.[1];
    expect(relayId).toBeDefined();
    expect(sim.relay(relayId!)?.registrations).toBe(1);
    expect(r2.out + r2.err).not.toContain(PIN);

    // The daemon then uses the stored credentials (the config's PIN is wrong) and the stored registration.
    const d = spawnRelay(configFile);
    procs.push(d);
    await waitFor(() => sim.connected(relayId!), { timeoutMs: 30_000, message: 'relay connected on the stored credentials' });
    sim.revokeToken(relayId!);
    await waitFor(() => (sim.relay(relayId!)?.registrations ?? 0) >= 2, { timeoutMs: 15_000, message: 're-registered with the stored PIN' });
    d.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
  });

  it('start with no tenant ID and PIN anywhere exits 78 and says how to fix it; after register it runs', async () => {
    const configFile = writeRelayConfig(tempDir('cr-life-d-'), { dmsUrl: sim.url, caPem: sim.caPem, dataDir: join(dir, 'd'), extra: { tenantId: undefined, pin: undefined } });
    const relaysBefore = sim.relays().length;
    const none = spawnRelay(configFile);
    procs.push(none);
    const r0 = await run(none);
    expect(r0.code).toBe(78);
    expect(r0.err).toContain('cloud-relay register --tenant T --pin P');
    expect(sim.relays()).toHaveLength(relaysBefore);

    const reg = spawnCli(undefined, { args: ['register', '--config', configFile, '--tenant', 't-4711', '--pin', PIN] });
    procs.push(reg);
    const r1 = await run(reg);
    expect(r1.code).toBe(0);
    const relayId = /relay id\s+(\S+)/.exec(r1.out)?.[1];
    expect(relayId).toBeDefined();

    const d = spawnRelay(configFile);
    procs.push(d);
    await waitFor(() => sim.connected(relayId!), { timeoutMs: 30_000, message: 'relay running on the stored credentials' });
    d.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
  });

  it('a second signal exits at once', async () => {
    const configFile = writeRelayConfig(tempDir('cr-life-c-'), { dmsUrl: sim.url, caPem: sim.caPem, pin: PIN, dataDir: join(dir, 'c') });
    const p = spawnRelay(configFile);
    procs.push(p);
    await p.adminUrl();
    p.kill('SIGTERM');
    p.kill('SIGTERM');
    const { code, signal } = await p.exited;
    // Either the drain finished first (0) or the second signal forced EX_TEMPFAIL (75); never hangs.
    expect(signal).toBeNull();
    expect([0, 75]).toContain(code);
  });
});
