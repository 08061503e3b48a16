import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Agent, request } from 'undici';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { sharedDmsPki } from '../helpers/pki-cache.js';

/** The simulator's side of §1/§3 checked with a bare client, so relay tests can trust it. */
describe('DMS simulator control endpoint', () => {
  let sim: DmsSimulator;
  let dispatcher: Agent;
  let reg: { relayId: string; token: string; controlUrl: string };
  beforeAll(async () => {
    sim = await startDmsSimulator(sharedDmsPki());
    dispatcher = new Agent({ connect: { ca: sim.caPem } });
    const res = await request(`${sim.url}/api/v1/relays/register`, {
      method: 'POST',
      dispatcher,
      body: JSON.stringify({ tenantId: 't-4711', pin: '493027', relayId: null, hostname: 'h', fqdn: 'f', version: '1' }),
    });
    reg = (await res.body.json()) as typeof reg;
  });
  afterAll(async () => {
    await dispatcher.close();
    await sim.close();
  });

  const open = (headers: Record<string, string>, protocols: string[] = ['relay.v1']) => new WebSocket(reg.controlUrl, protocols, { headers, ca: sim.caPem });
  const upgradeStatus = (ws: WebSocket) =>
    new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });

  it('refuses upgrades without a valid token (401), the subprotocol or the run id (400)', async () => {
    expect(await upgradeStatus(open({ authorization: 'Bearer nope', 'x-relay-run-id': 'r' }))).toBe(401);
    expect(await upgradeStatus(open({ authorization: `Bearer ${reg.token}`, 'x-relay-run-id': 'r' }, []))).toBe(400);
    expect(await upgradeStatus(open({ authorization: `Bearer ${reg.token}` }))).toBe(400);
  });

  it('acks a relay frame, drops a duplicate id, and closes 4008 naming the frame and field of an invalid one', async () => {
    const ws = open({ authorization: `Bearer ${reg.token}`, 'x-relay-run-id': 'run-1' });
    const acks: string[] = [];
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString()) as { type: string; ref: string };
      if (f.type === 'ack') acks.push(f.ref);
    });
    await new Promise((r) => ws.once('open', r));
    const frame = JSON.stringify({ v: 1, id: 'f-1', type: 'device.event', ts: new Date().toISOString(), ip: '127.0.0.1', event: {} });
    ws.send(frame);
    ws.send(frame);
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (acks.length === 2) {
          clearInterval(t);
          resolve();
        }
      }, 10);
    });
    expect(acks).toEqual(['f-1', 'f-1']);
    expect(sim.received(reg.relayId)).toHaveLength(1);
    expect(sim.relay(reg.relayId)!.duplicates).toBe(1);
    const closed = new Promise<[number, string]>((resolve) => ws.on('close', (code, reason) => resolve([code, reason.toString()])));
    ws.send(JSON.stringify({ v: 1, id: 'f-2', type: 'task.result', ts: new Date().toISOString(), taskId: 't' }));
    expect(await closed).toEqual([4008, 'frame f-2 invalid: deviceId']);
  });
});
