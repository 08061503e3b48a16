import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/harness.js';
import { waitFor, waitForEvent } from '../helpers/wait.js';

const event = (n: number) => ({ ip: '127.0.0.1', event: { kind: 'test', n } });

describe('durable outbox and DMS → relay delivery (PROTOCOL §3)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('frames queued while disconnected are sent in creation order once connected, and deleted on ack', async () => {
    h = await startHarness();
    const relayId = await h.connected();
    h.sim.setFaults({ refuseUpgradesForMs: 800 });
    const gone = waitForEvent(h.sim.events, 'disconnected');
    h.sim.disconnect(relayId);
    await gone;
    const ids = [0, 1, 2, 3, 4].map((n) => h!.daemon.outbox.enqueue('device.event', event(n)));
    expect(h.daemon.outbox.depth()).toBe(5);
    await waitFor(() => h!.sim.received(relayId, 'device.event').length === 5, { timeoutMs: 8_000 });
    const got = h.sim.received(relayId, 'device.event');
    expect(got.map((f) => f.id)).toEqual(ids);
    expect(got.map((f) => (f.frame.event as { n: number }).n)).toEqual([0, 1, 2, 3, 4]);
    // ts is when the frame was stored, not when it was sent.
    expect(Date.parse(String(got[0]!.frame.ts))).toBeLessThan(got[0]!.receivedAt);
    await waitFor(() => h!.daemon.outbox.depth() === 0, { message: 'outbox drained by acks' });
  });

  it('frames unacked for the ack timeout on a live connection make the relay reconnect and resend; the DMS drops the duplicates', async () => {
    h = await startHarness({ tuning: { ackTimeoutMs: 600, pingIntervalMs: 5_000 } });
    const relayId = await h.connected();
    h.sim.setFaults({ withholdAcks: true });
    const reconnected = waitForEvent(h.sim.events, 'connected', () => true, 10_000);
    h.daemon.outbox.enqueue('device.event', event(1));
    h.daemon.outbox.enqueue('device.event', event(2));
    await waitFor(() => h!.logs.withCode('CONTROL_ACK_TIMEOUT').length >= 1, { timeoutMs: 10_000, message: 'ack timeout logged' });
    h.sim.setFaults({ withholdAcks: false });
    await reconnected;
    await waitFor(() => h!.daemon.outbox.depth() === 0, { timeoutMs: 10_000, message: 'outbox drained after the resend' });
    expect(h.sim.received(relayId, 'device.event')).toHaveLength(2);
    expect(h.sim.relay(relayId)!.duplicates).toBeGreaterThanOrEqual(2);
  });

  it('a nack from the DMS removes the frame (not resent) and is logged', async () => {
    h = await startHarness();
    const relayId = await h.connected();
    h.sim.setFaults({ nackTypes: ['device.event'] });
    const id = h.daemon.outbox.enqueue('device.event', event(9));
    await waitFor(() => h!.daemon.outbox.depth() === 0);
    await waitFor(() => h!.logs.withCode('FRAME_NACKED').length === 1);
    expect(h.logs.withCode('FRAME_NACKED')[0]).toMatchObject({ ref: id, reason: 'simulated refusal' });
    // Not resent, even after a reconnect.
    const back = waitForEvent(h.sim.events, 'connected');
    h.sim.disconnect(relayId);
    await back;
    expect(h.sim.received(relayId).filter((f) => f.id === id)).toHaveLength(1);
    expect(h.sim.relay(relayId)!.duplicates).toBe(0);
  });

  it('DMS frames: stored then acked, duplicates acked again and not re-run (also across a restart); unacked ones resent after reconnect', async () => {
    h = await startHarness();
    const relayId = await h.connected();
    const runs: string[] = [];
    h.daemon.inbound['images.sync'] = (f) => runs.push(f.id);
    const frameId = h.sim.sendFrame(relayId, { type: 'images.sync' });
    await waitFor(() => h!.sim.answer(relayId, frameId) === 'ack');
    const text = JSON.stringify({ v: 1, id: frameId, type: 'images.sync', ts: new Date().toISOString() });
    const again = waitForEvent<{ ref: string; kind: string }>(h.sim.events, 'answer', (a) => a.ref === frameId);
    h.sim.sendRaw(relayId, text);
    expect((await again).kind).toBe('ack');
    expect(runs).toEqual([frameId]);
    expect(h.logs.withCode('FRAME_DUPLICATE')).toHaveLength(1);

    await h.restartRelay();
    const runsAfter: string[] = [];
    h.daemon.inbound['images.sync'] = (f) => runsAfter.push(f.id);
    await h.connected();
    const third = waitForEvent<{ ref: string; kind: string }>(h.sim.events, 'answer', (a) => a.ref === frameId);
    h.sim.sendRaw(relayId, text);
    expect((await third).kind).toBe('ack');
    expect(runsAfter).toEqual([]);

    // Sent while the relay is away: the DMS keeps it and resends it on the next connection.
    h.sim.setFaults({ refuseUpgradesForMs: 600 });
    const gone = waitForEvent(h.sim.events, 'disconnected');
    h.sim.disconnect(relayId);
    await gone;
    const later = h.sim.sendFrame(relayId, { type: 'images.sync' });
    await waitFor(() => h!.sim.answer(relayId, later) === 'ack', { timeoutMs: 8_000 });
    expect(runsAfter).toEqual([later]);
  });

  it('a frame its handler refuses is nacked with the reason; frames of a part not built in are nacked as unsupported', async () => {
    h = await startHarness();
    const relayId = await h.connected();
    const { FrameRefused } = await import('../../src/core/ports.js');
    h.daemon.inbound['task.delete'] = (f) => {
      throw new FrameRefused(`unknown taskId ${f.taskId}`);
    };
    const refused = h.sim.sendFrame(relayId, { type: 'task.delete', taskId: 'no-such-task' });
    await waitFor(() => h!.sim.answer(relayId, refused)?.startsWith('nack'));
    expect(h.sim.answer(relayId, refused)).toBe('nack: unknown taskId no-such-task');
    delete h.daemon.inbound['cert.install'];
    const unsupported = h.sim.sendFrame(relayId, { type: 'cert.install', pfx: Buffer.from('x').toString('base64'), passphrase: 'pfx-secret-9' });
    await waitFor(() => h!.sim.answer(relayId, unsupported)?.startsWith('nack'));
    expect(h.sim.answer(relayId, unsupported)).toMatch(/cert\.install frames are not supported/);
    expect(h.logs.text()).not.toContain('pfx-secret-9');
  });
});
