import { afterEach, describe, expect, it } from 'vitest';
import { startDmsSimulator, PIN_OVERLAP_MS, type DmsSimulator } from '../../sim/dms/index.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { ManualClock } from '../helpers/clock.js';
import { waitFor, waitForEvent } from '../helpers/wait.js';
import { sharedDmsPki } from '../helpers/pki-cache.js';

describe('registration (PROTOCOL §1)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const track = (h: Harness) => {
    cleanups.push(() => h.close());
    return h;
  };
  const trackSim = (s: DmsSimulator) => {
    cleanups.push(() => s.close());
    return s;
  };

  it('registers with a good PIN, stores the relay id and reuses it after a restart', async () => {
    const h = track(await startHarness());
    const relayId = await h.registered();
    const reg = h.daemon.registration.current()!;
    expect(reg.controlUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/api\/v1\/relays\/.+\/control$/);
    expect(reg.provisioningUrl).toBe(`${h.sim.url}/provisioning/`);
    expect(h.sim.relay(relayId)?.tenantId).toBe('t-4711');
    const ready = await waitFor(async () => {
      const res = await fetch(`${h.adminUrl()}/readyz`);
      return res.status === 200 ? ((await res.json()) as { checks: { name: string; ok: boolean }[] }) : undefined;
    });
    expect(ready.checks.find((c) => c.name === 'registered')?.ok).toBe(true);

    // Restart: the stored token is still valid, so no new registration; same relay id.
    await h.restartRelay();
    expect(h.daemon.registration.current()?.relayId).toBe(relayId);
    expect(h.sim.relay(relayId)?.registrations).toBe(1);
    expect(h.sim.relays()).toHaveLength(1);
  });

  it('after the token is revoked the relay registers again under the same relay id', async () => {
    const h = track(await startHarness({ sim: { heartbeatIntervalSeconds: 1 } }));
    const relayId = await h.registered();
    h.sim.revokeToken(relayId);
    // The simulator counts the request before the relay has read the answer: wait for both.
    const reg = await waitFor(() => ((h.sim.relay(relayId)?.registrations ?? 0) >= 2 ? h.daemon.registration.current() : undefined), { message: 're-registered after 401' });
    expect(h.sim.relays()).toHaveLength(1);
    expect(reg.relayId).toBe(relayId);
  });

  it('a wrong PIN gives one clear log line, is retried with backoff, and is not ready', async () => {
    const h = track(await startHarness({ pin: 'wrong-000', tuning: { authRetryBaseMs: 100, authRetryCapMs: 400 } }));
    // Stamped when the simulator answers, not when this test gets round to looking (which, on a
    // loaded machine, can be much later).
    const rejectedAt: number[] = [];
    h.sim.events.on('register-rejected', () => rejectedAt.push(performance.now()));
    await waitFor(() => rejectedAt.length >= 5, { message: 'five rejected attempts' });
    // Backoff: attempts 4 and 5 wait at least 50% of 400 ms each — not a tight loop (a timer may fire 1 ms early).
    expect(rejectedAt[4]! - rejectedAt[2]!).toBeGreaterThanOrEqual(398);
    const lines = h.logs.lines().filter((l) => l.msg === 'tenant ID or PIN rejected by the DMS');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.level).toBe('error');
    expect(h.daemon.registration.current()).toBeUndefined();
    const res = await fetch(`${h.adminUrl()}/readyz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { checks: { name: string; ok: boolean; detail?: string }[] };
    expect(body.checks.find((c) => c.name === 'registered')?.detail).toContain('tenant ID or PIN rejected');
    expect(h.logs.text()).not.toContain('wrong-000');
  });

  it('the old PIN works inside the 24 h overlap after a reset, and not after it', async () => {
    const clock = new ManualClock();
    const sim = trackSim(await startDmsSimulator({ ...sharedDmsPki(), clock }));
    sim.resetPin('t-4711', '111222');

    const inside = track(await startHarness({ existingSim: sim, pin: '493027' }));
    await inside.registered();
    await inside.close();
    cleanups.pop();

    const withNew = track(await startHarness({ existingSim: sim, pin: '111222' }));
    await withNew.registered();

    clock.advance(PIN_OVERLAP_MS + 1000);
    const rejected = waitForEvent(sim.events, 'register-rejected');
    const after = track(await startHarness({ existingSim: sim, pin: '493027' }));
    await rejected;
    // The simulator reports the rejection when it answers; the relay logs it once the answer arrives.
    await waitFor(() => after.logs.find((l) => l.msg === 'tenant ID or PIN rejected by the DMS'), { message: 'rejection logged' });
    expect(after.daemon.registration.current()).toBeUndefined();
  });

  it('obeys 429 Retry-After, retries 5xx, and treats license_expired on its own schedule', async () => {
    const sim = trackSim(await startDmsSimulator(sharedDmsPki()));
    sim.setFaults({ register: { status: 503, times: 2 } });
    const h = track(await startHarness({ existingSim: sim }));
    await h.registered();
    expect(h.logs.withCode('DMS_ERROR').length).toBeGreaterThanOrEqual(1);

    sim.setFaults({ register: { status: 429, retryAfterSeconds: 1 } });
    const t0 = Date.now();
    const rateLimited = track(await startHarness({ existingSim: sim }));
    await rateLimited.registered();
    // Retry-After is obeyed, not the (100 ms) transient backoff of the test tuning.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(rateLimited.logs.withCode('DMS_RATE_LIMITED')).toHaveLength(1);
    expect(rateLimited.logs.withCode('DMS_RATE_LIMITED')[0]!.retryInSeconds).toBe(1);

    sim.setFaults({ register: { status: 403, body: { error: 'license_expired' } } });
    const expired = track(await startHarness({ existingSim: sim, tuning: { licenseRetryMs: 300 } }));
    await expired.registered();
    expect(expired.logs.withCode('LICENSE_EXPIRED')).toHaveLength(1);
  });

  it('a DMS certificate "not yet valid" is reported as a clock-skew error, not as a TLS failure', async () => {
    const sim = trackSim(await startDmsSimulator({ ca: sharedDmsPki().ca, certNotBefore: new Date(Date.now() + 2 * 86_400_000) }));
    const h = track(await startHarness({ existingSim: sim }));
    await waitFor(() => h.logs.withCode('CLOCK_SKEW').length >= 1, { message: 'clock skew logged' });
    const line = h.logs.withCode('CLOCK_SKEW')[0]!;
    expect(line.level).toBe('error');
    expect(String(line.msg)).toMatch(/not yet valid.*local clock is most likely wrong/);
    expect(h.daemon.registration.current()).toBeUndefined();
    expect(h.logs.withCode('DMS_UNREACHABLE')).toHaveLength(0);
  });

  it('a DMS that does not know the stored relay id assigns a new one, which the relay keeps', async () => {
    const first = track(await startHarness());
    const oldId = await first.registered();
    await first.daemon.stop('moving to another DMS');
    const otherSim = trackSim(await startDmsSimulator(sharedDmsPki()));
    const moved = track(await startHarness({ existingSim: otherSim, dataDir: first.dataDir }));
    const newId = await moved.registered();
    expect(newId).not.toBe(oldId);
    expect(moved.logs.find((l) => l.msg === 'the DMS did not know our relay id and assigned a new one')).toMatchObject({ previousRelayId: oldId, relayId: newId });
    await moved.restartRelay();
    expect(moved.daemon.registration.current()?.relayId).toBe(newId);
    expect(otherSim.relay(newId)?.registrations).toBe(1);
  });
});
