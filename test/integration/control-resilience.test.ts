import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startHarness, type Harness } from '../helpers/harness.js';
import { waitFor, waitForEvent } from '../helpers/wait.js';

type Conn = { relayId: string; runId: string };
type Disc = { relayId: string; code: number; reason: string };

describe('control channel survives the DMS (PROTOCOL §3)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('connects with bearer token, run id and subprotocol relay.v1, and reconnects after the DMS closes or drops it', async () => {
    h = await startHarness();
    const relayId = await h.connected();
    const runId = h.sim.relay(relayId)?.runId;
    expect(runId).toBe(h.daemon.agent!.runId);

    const again = waitForEvent<Conn>(h.sim.events, 'connected', (e) => e.relayId === relayId);
    h.sim.disconnect(relayId, 1011, 'dms restarting');
    await again;
    const dropped = waitForEvent<Conn>(h.sim.events, 'connected', (e) => e.relayId === relayId);
    h.sim.disconnect(relayId); // TCP drop, no close frame
    await dropped;
    expect(h.daemon.agent!.control.status().reconnects).toBeGreaterThanOrEqual(2);
    expect(h.sim.relay(relayId)?.runId).toBe(runId);
  });

  it('reconnect backoff keeps growing while connections fail fast and resets only after one has held for stableAfterMs', async () => {
    h = await startHarness({ tuning: { reconnectBaseMs: 1, reconnectCapMs: 20, stableAfterMs: 3_000 } });
    const relayId = await h.connected();
    const attempts = () =>
      h!.logs
        .lines()
        .filter((l) => l.msg === 'control channel reconnecting')
        .map((l) => Number(l.attempt));
    const before = attempts().length;
    const bounce = async (why: string) => {
      const back = waitForEvent<Conn>(h!.sim.events, 'connected', (e) => e.relayId === relayId);
      h!.sim.disconnect(relayId, 1011, why);
      await back;
    };
    for (let i = 0; i < 3; i++) await bounce('flapping');
    expect(attempts().slice(before)).toEqual([1, 2, 3]);
    await waitFor(() => h!.logs.find((l) => l.msg === 'control channel stable: reconnect backoff reset'), {
      timeoutMs: 10_000,
      message: 'backoff reset after a stable connection',
    });
    await bounce('once more');
    expect(attempts().at(-1)).toBe(1);
  });

  it('detects a half-open DMS (no pong by the next ping), terminates the socket and reconnects', async () => {
    h = await startHarness({ tuning: { pingIntervalMs: 300 } });
    const relayId = await h.connected();
    const reconnected = waitForEvent<Conn>(h.sim.events, 'connected', (e) => e.relayId === relayId, 10_000);
    expect(h.sim.goSilent(relayId)).toBe(true);
    await reconnected;
    const silent = h.logs.withCode('CONTROL_PEER_SILENT');
    expect(silent).toHaveLength(1);
    expect(silent[0]!.msg).toContain('half-open');
  });

  it('keeps retrying while the DMS refuses upgrades, then connects', async () => {
    h = await startHarness();
    const relayId = await h.connected();
    let refused = 0;
    h.sim.events.on('refused', (e: { status: number }) => {
      if (e.status === 503) refused++;
    });
    h.sim.setFaults({ refuseUpgradesForMs: 1_500 });
    const back = waitForEvent<Conn>(h.sim.events, 'connected', (e) => e.relayId === relayId, 8_000);
    h.sim.disconnect(relayId);
    await back;
    expect(refused).toBeGreaterThanOrEqual(2);
    expect(h.logs.withCode('CONTROL_UPGRADE_REFUSED').length).toBe(refused);
  });

  it('4001 superseded: reconnects; 4003: registers again before reconnecting; 401 at upgrade: the same', async () => {
    h = await startHarness();
    const relayId = await h.connected();
    let back = waitForEvent<Conn>(h.sim.events, 'connected', (e) => e.relayId === relayId);
    h.sim.disconnect(relayId, 4001, 'superseded');
    await back;
    await waitFor(() => h!.logs.withCode('CONTROL_SUPERSEDED').length === 1, { message: 'relay logged superseded' });

    back = waitForEvent<Conn>(h.sim.events, 'connected', (e) => e.relayId === relayId);
    h.sim.disconnect(relayId, 4003, 'token rejected');
    await back;
    expect(h.sim.relay(relayId)?.registrations).toBe(2);

    h.sim.revokeToken(relayId);
    const refused = waitForEvent<{ status: number }>(h.sim.events, 'refused', (e) => e.status === 401);
    back = waitForEvent<Conn>(h.sim.events, 'connected', (e) => e.relayId === relayId);
    h.sim.disconnect(relayId);
    await refused;
    await back;
    expect(h.sim.relay(relayId)?.registrations).toBe(3);

    // A DMS that revokes the token actively closes the live session with 4003: the old token
    // is dead, so the relay must register again (not just reconnect) before it is back.
    back = waitForEvent<Conn>(h.sim.events, 'connected', (e) => e.relayId === relayId);
    h.sim.revokeToken(relayId, { closeSession: true });
    await back;
    expect(h.sim.relay(relayId)?.registrations).toBe(4);
  });

  it("4008 (a frame we sent was invalid) is logged with the DMS's reason and the relay reconnects", async () => {
    h = await startHarness();
    const relayId = await h.connected();
    const back = waitForEvent<Conn>(h.sim.events, 'connected', (e) => e.relayId === relayId);
    h.sim.disconnect(relayId, 4008, 'frame abc invalid: taskId');
    await back;
    await waitFor(() => h!.logs.withCode('CONTROL_FRAME_INVALID').length === 1);
    expect(h.logs.withCode('CONTROL_FRAME_INVALID')[0]).toMatchObject({ level: 'error', reason: 'frame abc invalid: taskId' });
  });

  it('the DMS supersedes an older session of the same relay with 4001', async () => {
    h = await startHarness();
    const relayId = await h.connected();
    const reg = h.daemon.registration.current()!;
    const closed = waitForEvent<Disc>(h.sim.events, 'disconnected', (e) => e.relayId === relayId && e.code === 4001);
    // Another connection with the same token (what a restarted relay looks like to the DMS).
    const other = new WebSocket(reg.controlUrl, 'relay.v1', { headers: { authorization: `Bearer ${reg.token}`, 'x-relay-run-id': 'other-run' }, ca: h.sim.caPem });
    const otherClosed = new Promise<number>((resolve) => other.on('close', (code) => resolve(code)));
    other.on('error', () => undefined);
    await closed;
    await waitFor(() => h!.logs.withCode('CONTROL_SUPERSEDED').length === 1, { message: 'relay logged superseded' });
    // The relay reconnects and in turn supersedes the other connection.
    expect(await otherClosed).toBe(4001);
    await waitFor(() => h!.sim.relay(relayId)?.runId === h!.daemon.agent!.runId);
  });

  it('on shutdown flushes the outbox while the channel is up, then closes with 1001', async () => {
    h = await startHarness();
    const relayId = await h.connected();
    const closed = waitForEvent<Disc>(h.sim.events, 'disconnected', (e) => e.relayId === relayId);
    for (let n = 0; n < 20; n++) h.daemon.outbox.enqueue('device.event', { ip: '127.0.0.1', event: { n } });
    const countAtClose = closed.then(() => h!.sim.received(relayId, 'device.event').length);
    await h.daemon.stop('test');
    expect((await closed).code).toBe(1001);
    expect(await countAtClose).toBe(20);
  });
});
