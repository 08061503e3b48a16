import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { PhoneFarm } from '../../sim/phone/farm.js';
import { waitFor } from '../helpers/wait.js';

/** The phone simulator speaks Polycom UC REST as device-protocols.md §1 describes, with a plain client. */
describe('phone simulator', () => {
  let farm: PhoneFarm;
  const agent = new Agent({ connect: { rejectUnauthorized: false } });
  const auth = (pw = '456') => ({ authorization: 'Basic ' + Buffer.from(`Polycom:${pw}`).toString('base64') });
  const url = (i: number, path: string) => `https://${farm.phone(i).ip}:${farm.phones[i]!.port}${path}`;
  const get = async (i: number, path: string, pw?: string) => {
    const res = await request(url(i, path), { dispatcher: agent, headers: auth(pw) });
    const text = await res.body.text();
    return { status: res.statusCode, text, json: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  };
  const post = async (i: number, path: string, data?: unknown) => {
    const res = await request(url(i, path), {
      method: 'POST',
      dispatcher: agent,
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify(data === undefined ? {} : { data }),
    });
    return { status: res.statusCode, json: JSON.parse(await res.body.text()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    // Offline for 2 s when rebooting: long enough that the test's request lands inside it on a loaded machine.
    farm = await PhoneFarm.start({ count: 3, firstIndex: 8000 + (process.pid % 50) * 100, timing: { rebootOfflineMs: 2_000, callStepMs: 10, answerMs: 20 } });
  });

  afterAll(async () => {
    await agent.close();
    await farm?.close();
  });

  it('tells phones apart by the address the client connected to', async () => {
    const a = await get(0, '/api/v2/mgmt/device/info');
    const b = await get(1, '/api/v2/mgmt/device/info');
    expect(a.json).toMatchObject({ Status: '2000', data: { MACAddress: farm.phone(0).mac } });
    expect((b.json?.data as { MACAddress: string }).MACAddress).toBe(farm.phone(1).mac);
  });

  it('answers string status codes: 4007 when idle (v1), [] (v2), 4009 over 20 names, 4000 for a bad typed value', async () => {
    expect((await get(0, '/api/v1/webCallControl/callStatus')).json).toEqual({ Status: '4007' });
    expect((await get(0, '/api/v2/webCallControl/callStatus')).json).toEqual({ Status: '2000', data: [] });
    expect(
      (
        await post(
          0,
          '/api/v1/mgmt/config/get',
          Array.from({ length: 21 }, (_, i) => `reg.${i}.label`),
        )
      ).json,
    ).toEqual({ Status: '4009' });
    expect((await post(0, '/api/v1/mgmt/config/set', { 'diags.pcap.background.duration': '9999' })).json).toEqual({ Status: '4000' });
  });

  it('runs a call through Dialtone → Connected, and defers a safe reboot until the call ends', async () => {
    expect((await post(0, '/api/v1/callctrl/dial', { Dest: '4711', Line: '1', Type: 'TEL' })).json).toEqual({ Status: '2000' });
    await waitFor(async () => ((await get(0, '/api/v2/webCallControl/callStatus')).json?.data as { CallState: string }[])[0]?.CallState === 'Connected', { message: 'connected' });
    expect((await post(0, '/api/v1/mgmt/safeReboot')).json).toEqual({ Status: '2000' });
    expect(farm.phone(0).rebootPending).toBe(true);
    const handle = ((await get(0, '/api/v2/webCallControl/callStatus')).json?.data as { CallHandle: string }[])[0]!.CallHandle;
    expect((await post(0, '/api/v1/callctrl/endCall', { Ref: handle })).json).toEqual({ Status: '2000' });
    // offline while rebooting (connection refused), then back with a fresh uptime
    await waitFor(() => !farm.phone(0).online, { message: 'went down' });
    await expect(get(0, '/api/v2/mgmt/device/info')).rejects.toThrow();
    await waitFor(() => get(0, '/api/v2/mgmt/device/info').then((r) => r.status === 200), { message: 'back up' });
  });

  it('404 when the API is disabled, 401 with a wrong password, and faults on demand', async () => {
    farm.phone(2).apiEnabled = false;
    expect((await get(2, '/api/v2/mgmt/device/info')).status).toBe(404);
    farm.phone(2).apiEnabled = true;
    expect((await get(2, '/api/v2/mgmt/device/info', 'wrong')).status).toBe(401);
    farm.phone(2).faults = { httpStatus: 503, retryAfterSeconds: 3 };
    const res = await request(url(2, '/api/v2/mgmt/device/info'), { dispatcher: agent, headers: auth() });
    await res.body.dump();
    expect([res.statusCode, res.headers['retry-after']]).toEqual([503, '3']);
    farm.phone(2).faults = { busy: true };
    expect((await get(2, '/api/v2/mgmt/device/info')).json).toEqual({ Status: '4001' });
    farm.phone(2).faults = {};
  });

  it('uploads a libpcap capture to the url given in uploadBgCapture, from its own address', async () => {
    let got: { ip: string | undefined; body: Buffer } | undefined;
    const srv: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got = { ip: req.socket.remoteAddress, body: Buffer.concat(chunks) };
        res.writeHead(201).end();
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      expect((await post(1, '/api/v1/mgmt/network/uploadBgCapture', { url: 'http://127.0.0.1:9/x' })).json).toEqual({ Status: '4003' });
      await post(1, '/api/v1/mgmt/config/set', { 'diags.pcap.enabled': '1', 'diags.pcap.background.enabled': '1' });
      const port = (srv.address() as AddressInfo).port;
      expect((await post(1, '/api/v1/mgmt/network/uploadBgCapture', { url: `http://127.0.0.1:${port}/cap` })).json).toEqual({ Status: '2000' });
      await waitFor(() => got, { message: 'capture upload' });
      expect(got!.ip).toBe(farm.phone(1).ip);
      expect(got!.body.readUInt32LE(0)).toBe(0xa1b2c3d4);
      expect(got!.body.readUInt32LE(20)).toBe(1); // LINKTYPE_ETHERNET
    } finally {
      srv.close();
    }
  });
});
