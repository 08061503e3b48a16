import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import type { Harness } from '../helpers/harness.js';
import { runTask, startRelayWithPhones } from '../helpers/devices.js';
import { waitFor } from '../helpers/wait.js';
import type { PhoneFarm } from '../../sim/phone/farm.js';

/** Telephony notifications pushed by phones reach the DMS as device.event and device.status at once. */
describe('telephony notifications', () => {
  let h: Harness;
  let farm: PhoneFarm;
  let relayId: string;

  beforeAll(async () => {
    ({ h, relayId, farm } = await startRelayWithPhones({
      count: 2,
      firstIndex: 3000 + (process.pid % 50) * 100,
      hosts: { 'relay.test.example': '127.0.0.1' },
      timing: { callStepMs: 10, answerMs: 30 },
    }));
    // The phones learn where to push through a setParams task, as an admin would configure them.
    const url = `https://relay.test.example:${h.daemon.addresses.https!.port}/telnotify`;
    const r = await runTask(h.sim, relayId, { command: { kind: 'setParams', args: { values: { 'apps.telNotification.URL': url } } }, targets: farm.targets() });
    expect([...r.values()].every((x) => x.outcome === 'success')).toBe(true);
    await runTask(h.sim, relayId, { command: { kind: 'status' }, targets: farm.targets() });
  });

  afterAll(async () => {
    await farm?.close();
    await h?.close();
  });

  const statuses = (deviceId: string) =>
    h.sim
      .received(relayId, 'device.status')
      .filter((f) => f.frame.deviceId === deviceId)
      .map((f) => f.frame);
  const events = (deviceId: string) =>
    h.sim
      .received(relayId, 'device.event')
      .filter((f) => f.frame.deviceId === deviceId)
      .map((f) => f.frame);

  it('an incoming call becomes a device.event and a device.status with callState in_call', async () => {
    const id = farm.target(0).deviceId;
    expect(statuses(id).at(-1)).toMatchObject({ online: true, callState: 'idle' });
    farm.phone(0).ring('sip:alice@pbx.example.org');
    const ev = await waitFor(() => events(id).find((e) => (e.event as { type: string }).type === 'IncomingCallEvent'), { message: 'device.event at the DMS' });
    expect(ev).toMatchObject({ ip: farm.phone(0).ip, event: { CallingPartyNumber: 'sip:alice@pbx.example.org', MACAddress: farm.phone(0).mac } });
    await waitFor(() => statuses(id).at(-1)?.callState === 'in_call', { message: 'device.status in_call' });
  });

  it('a line unregistration updates the lines in device.status; the call ending returns to idle', async () => {
    const id = farm.target(1).deviceId;
    farm.phone(1).setLineRegistered(1, false);
    await waitFor(() => (statuses(id).at(-1)?.lines as { registered: boolean }[] | undefined)?.[0]?.registered === false, { message: 'line 1 unregistered' });
    farm.phone(0).endCall();
    await waitFor(() => statuses(farm.target(0).deviceId).at(-1)?.callState === 'idle', { message: 'idle again' });
  });

  it('a body that is not a PolycomIPPhone event is refused with 400 and the relay keeps serving', async () => {
    const agent = new Agent({ connect: { rejectUnauthorized: false } });
    try {
      const url = `https://127.0.0.1:${h.daemon.addresses.https!.port}/telnotify`;
      const bad = await request(url, { method: 'POST', body: '<NotPolycom><x/></NotPolycom>', dispatcher: agent });
      expect(bad.statusCode).toBe(400);
      expect(await bad.body.text()).toMatch(/expected <PolycomIPPhone>/);
      const dtd = await request(url, { method: 'POST', body: '<!DOCTYPE x [<!ENTITY a "b">]><PolycomIPPhone/>', dispatcher: agent });
      expect(dtd.statusCode).toBe(400);
      await dtd.body.dump();
      const ok = await request(url, {
        method: 'POST',
        body: '<PolycomIPPhone><OffHookEvent><PhoneIP>127.0.0.1</PhoneIP><MACAddress>0004f2ffffff</MACAddress></OffHookEvent></PolycomIPPhone>',
        dispatcher: agent,
      });
      expect(ok.statusCode).toBe(204);
      await ok.body.dump();
      // unknown sender: the event still reaches the DMS, without a deviceId
      await waitFor(() => h.sim.received(relayId, 'device.event').some((f) => f.frame.deviceId === undefined && (f.frame.event as { type: string }).type === 'OffHookEvent'), {
        message: 'anonymous event',
      });
      expect(h.logs.text()).toMatch(/telephony notification refused/);
    } finally {
      await agent.close();
    }
  });
});
