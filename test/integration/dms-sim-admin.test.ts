import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';

async function call(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${base}${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
  return { status: res.status, body: await res.json() };
}

describe('DMS simulator admin API (used by the demo and by tests driving a relay process)', () => {
  let h: Harness;
  let relayId: string;
  let admin: string;
  beforeAll(async () => {
    h = await startHarness({ sim: { heartbeatIntervalSeconds: 1 } });
    relayId = await h.connected();
    admin = h.sim.adminUrl;
  });
  afterAll(async () => {
    await h.close();
  });

  it('lists relays with state and connection, and one relay', async () => {
    await waitFor(() => h.sim.heartbeats(relayId).length >= 1);
    const list = await call(admin, 'GET', '/api/relays');
    expect(list.status).toBe(200);
    expect(list.body).toEqual([expect.objectContaining({ relayId, tenantId: 't-4711', state: 'Active', connected: true })]);
    expect((await call(admin, 'GET', `/api/relays/${relayId}`)).body).toMatchObject({ relayId, fqdn: 'relay.test.example' });
    expect((await call(admin, 'GET', '/api/relays/nope')).status).toBe(404);
    const hb = (await call(admin, 'GET', `/api/relays/${relayId}/heartbeats`)).body as { body: { seq: number } }[];
    expect(hb[0]!.body.seq).toBeGreaterThanOrEqual(1);
  });

  it("submits a task over the control channel and reports the relay's answer and frames", async () => {
    const r = await call(admin, 'POST', `/api/relays/${relayId}/tasks`, {
      command: { kind: 'status' },
      targets: [{ deviceId: 'd1', mac: '0004f2000009', ip: '127.20.255.251', port: 9, vendor: 'polycom', model: 'VVX', credentials: { user: 'u', password: 'p' } }],
    });
    expect(r.status).toBe(201);
    const { frameId, taskId } = r.body as { frameId: string; taskId: string };
    await waitFor(async () => ((await call(admin, 'GET', `/api/relays/${relayId}/answers/${frameId}`)).body as { answer: string | null }).answer);
    expect(typeof taskId).toBe('string');
    const frames = (await call(admin, 'GET', `/api/relays/${relayId}/frames`)).body as unknown[];
    expect(Array.isArray(frames)).toBe(true);
    expect((await call(admin, 'GET', `/api/relays/${relayId}/results`)).status).toBe(200);
  });

  it('sends raw frames, sets faults, queues actions, resets PINs and validates its input', async () => {
    expect((await call(admin, 'POST', `/api/relays/${relayId}/frames`, { raw: '{oops' })).body).toEqual({ sent: true });
    await waitFor(() => h.logs.withCode('FRAME_BAD_JSON').length === 1);
    const f = await call(admin, 'POST', '/api/faults', { serverTimeOffsetMs: 0, dropEveryNFrames: 0 });
    expect(f.body).toMatchObject({ dropEveryNFrames: 0 });
    expect((await call(admin, 'POST', `/api/relays/${relayId}/actions`, { action: 'reregister' })).status).toBe(200);
    await waitFor(() => (h.sim.relay(relayId)?.registrations ?? 0) >= 2);
    expect((await call(admin, 'POST', '/api/tenants/t-4711/pin', { pin: '999000' })).status).toBe(200);
    expect(h.sim.tenants.accepts('t-4711', '999000')).toBe(true);
    expect(h.sim.tenants.accepts('t-4711', '493027')).toBe(true);
    expect((await call(admin, 'POST', `/api/relays/${relayId}/tasks`, { command: {} })).status).toBe(400);
    expect((await call(admin, 'POST', '/api/faults', [1])).status).toBe(400);
  });

  it('addRoutes: extra DMS routes with bearer auth', async () => {
    h.sim.addRoutes([
      {
        method: 'GET',
        pattern: /^\/api\/v1\/relays\/([^/]+)\/echo$/,
        auth: true,
        handle: (_req, res, m, rid) => {
          res.end(JSON.stringify({ path: m[1], relayId: rid }));
        },
      },
    ]);
    const reg = h.daemon.registration.current()!;
    const { Agent, request } = await import('undici');
    const dispatcher = new Agent({ connect: { ca: h.sim.caPem } });
    try {
      const ok = await request(`${h.sim.url}/api/v1/relays/${relayId}/echo`, { headers: { authorization: `Bearer ${reg.token}` }, dispatcher });
      expect(await ok.body.json()).toEqual({ path: relayId, relayId });
      const no = await request(`${h.sim.url}/api/v1/relays/${relayId}/echo`, { dispatcher });
      expect(no.statusCode).toBe(401);
      await no.body.dump();
    } finally {
      await dispatcher.close();
    }
  });
});
