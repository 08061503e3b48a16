import { afterAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';

const PIN = 'pin-SECRET-8841';
const DEVICE_PASSWORD = 'devpw-SECRET-5512';
const PASSPHRASE = 'pfxpass-SECRET-7733';

describe('secrets never reach the log', () => {
  let h: Harness;
  afterAll(async () => {
    await h.close();
  });

  it('PIN, tokens, device passwords and passphrases are absent at debug level through registration, heartbeats, re-registration and frames', async () => {
    h = await startHarness({ sim: { tenants: { 't-4711': PIN }, heartbeatIntervalSeconds: 1 }, pin: PIN });
    const relayId = await h.connected();
    const tokens = new Set<string>([h.sim.relayBook.get(relayId)!.token]);
    await waitFor(() => h.sim.heartbeats(relayId).length >= 2);

    // Re-registration (new token), a task with device credentials, a cert install with a passphrase, a bad frame with a password.
    h.sim.revokeToken(relayId);
    await waitFor(() => (h.sim.relay(relayId)?.registrations ?? 0) >= 2);
    tokens.add(h.sim.relayBook.get(relayId)!.token);
    const target = { deviceId: 'd1', mac: '0004f2000001', ip: '127.20.0.250', port: 9, vendor: 'polycom', model: 'VVX', credentials: { user: 'admin', password: DEVICE_PASSWORD } };
    const task = h.sim.submitTask(relayId, { command: { kind: 'adPassword', args: { password: DEVICE_PASSWORD } }, targets: [target] });
    const cert = h.sim.sendFrame(relayId, { type: 'cert.install', pfx: Buffer.from('not a pfx').toString('base64'), passphrase: PASSPHRASE });
    h.sim.sendRaw(
      relayId,
      JSON.stringify({ v: 1, id: 'bad-1', type: 'task.submit', ts: new Date().toISOString(), taskId: 'x', command: { kind: 'reboot' }, targets: [{ ...target, mac: 'zz' }] }),
    );
    await waitFor(
      () =>
        h.sim.answer(relayId, task.frameId) !== undefined &&
        h.sim.answer(relayId, cert) !== undefined &&
        h.sim.answer(relayId, 'bad-1')?.startsWith('nack') &&
        h.logs.withCode('FRAME_INVALID_FIELD').length === 1,
      { timeoutMs: 10_000 },
    );
    await waitFor(() => h.sim.heartbeats(relayId).length >= 4);

    const text = h.logs.text();
    expect(h.logs.raw.length).toBeGreaterThan(10);
    expect(text).not.toContain(PIN);
    for (const t of tokens) expect(text).not.toContain(t);
    expect(text).not.toContain(DEVICE_PASSWORD);
    expect(text).not.toContain(PASSPHRASE);
    expect(text).not.toMatch(/Bearer [A-Za-z0-9_-]{10,}/);
  });
});
