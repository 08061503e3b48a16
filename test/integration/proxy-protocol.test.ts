import { connect as netConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from 'undici';
import { request } from 'undici';
import { createCa } from '../../sim/pki.js';
import { startProvisioningSimulator, type ProvisioningSimulator } from '../../sim/provisioning/index.js';
import { encodeProxyV2 } from '../../src/http/proxy-protocol.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { tempDir } from '../helpers/relay-config.js';
import { waitFor } from '../helpers/wait.js';
import { PFX_PASS, basicAuth, phoneClient, proxiedPhoneClient, relayPki } from '../helpers/phone-client.js';

/** The balancer stand-in connects from 127.0.0.1; phones are named in the header only. */
const BALANCER = '127.0.0.1';
const v2For = (phone: string) => encodeProxyV2({ command: 'proxy', source: { address: phone, port: 40000 }, destination: { address: '127.0.0.1', port: 443 } });

async function get(c: Client, path: string, auth = basicAuth()): Promise<number> {
  const res = await c.request({ method: 'GET', path, headers: { authorization: auth } });
  await res.body.text();
  return res.statusCode;
}

/** Opens a raw TCP connection, sends `bytes`, resolves when the relay closes it. */
function closedByRelay(port: number, bytes: Buffer, localAddress = BALANCER): Promise<void> {
  return new Promise((resolve, reject) => {
    const s: Socket = netConnect({ host: '127.0.0.1', port, localAddress }, () => s.write(bytes));
    s.on('data', () => reject(new Error('the relay answered instead of refusing')));
    s.on('error', () => undefined);
    s.on('close', () => resolve());
  });
}

describe('PROXY protocol on the phone port', () => {
  const root = createCa('proxy protocol test root');
  let prov: ProvisioningSimulator;
  let h: Harness;
  let port: number;
  const clients: Client[] = [];
  const client = (c: Client) => (clients.push(c), c);

  beforeAll(async () => {
    prov = await startProvisioningSimulator({ ca: root });
    const pki = relayPki(tempDir('pp-pki-'), root);
    h = await startHarness({
      sim: { ca: root, provisioningUrl: prov.url },
      relayConfig: { pfxFile: pki.pfxFile, pfxPassphrase: PFX_PASS, lb: { proxyProtocol: true, trustedProxies: [`${BALANCER}/32`] }, ipGuard: { maxFailures: 3 } },
    });
    await h.registered();
    port = h.daemon.addresses.https!.port;
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await h?.close();
    await prov?.close();
  });

  const upstreamFrom = (ip: string) => prov.requests.filter((r) => r.headers['x-forwarded-for'] === ip).length;

  it('v2 and v1 headers: the provisioning server and the log see the phone, not the balancer', async () => {
    expect(await get(client(proxiedPhoneClient(port, root.certPem, v2For('127.20.5.1'))), '/site.cfg')).toBe(200);
    expect(upstreamFrom('127.20.5.1')).toBe(1);
    const v1 = Buffer.from('PROXY TCP4 127.20.5.2 127.0.0.1 40001 443\r\n');
    const c = client(proxiedPhoneClient(port, root.certPem, v1, BALANCER, { coalesce: true }));
    expect(await get(c, '/site.cfg')).toBe(200);
    expect(await get(c, '/site.cfg')).toBe(200);
    expect(upstreamFrom('127.20.5.2')).toBe(2);
    expect(upstreamFrom(BALANCER)).toBe(0);
    expect(h.logs.find((l) => l.msg === 'phone request' && l.ip === '127.20.5.2')).toBeDefined();
  });

  it('LOCAL (a health check) is served with the real endpoint', async () => {
    expect(await get(client(proxiedPhoneClient(port, root.certPem, encodeProxyV2({ command: 'local' }))), '/site.cfg')).toBe(200);
    expect(upstreamFrom(BALANCER)).toBe(1);
  });

  it('bans the guessing phone, not the balancer: another phone behind it still gets in', async () => {
    const guesser = client(proxiedPhoneClient(port, root.certPem, v2For('127.20.5.66')));
    const wrong = basicAuth('PlcmSpIp', 'guess');
    for (let i = 0; i < 3; i++) expect(await get(guesser, '/site.cfg', wrong)).toBe(401);
    expect(await get(guesser, '/site.cfg')).toBe(403);
    expect(h.logs.withCode('IP_BANNED').map((l) => l.ip)).toEqual(['127.20.5.66']);
    expect(await get(client(proxiedPhoneClient(port, root.certPem, v2For('127.20.5.3'))), '/site.cfg')).toBe(200);
  });

  it('refuses, with a logged code, a peer outside lb.trustedProxies, a connection without a header, and a bad header', async () => {
    // A phone reaching the relay directly (valid TLS, but not from the balancer).
    await expect(get(client(phoneClient(port, root.certPem, '127.20.5.9')), '/site.cfg')).rejects.toThrow();
    // Even a well-formed header does not make an untrusted peer trusted.
    await closedByRelay(port, v2For('127.20.5.10'), '127.20.5.10');
    await waitFor(() => h.logs.withCode('PROXY_SOURCE_UNTRUSTED').some((l) => l.peer === '127.20.5.10'), { message: 'untrusted peer logged' });
    expect(h.logs.withCode('PROXY_SOURCE_UNTRUSTED').some((l) => l.peer === '127.20.5.9')).toBe(true);
    // The balancer forgot send-proxy-v2: TLS arrives first.
    await expect(get(client(phoneClient(port, root.certPem, BALANCER)), '/site.cfg')).rejects.toThrow();
    await waitFor(() => h.logs.withCode('PROXY_HEADER_MISSING').find((l) => /TLS handshake/.test(String(l.reason))), { message: 'missing header logged' });
    await closedByRelay(port, Buffer.from('PROXY TCP4 127.20.5.11 nonsense 1 2\r\n'));
    await waitFor(() => h.logs.withCode('PROXY_HEADER_INVALID').length > 0, { message: 'invalid header logged' });
    expect(upstreamFrom('127.20.5.9') + upstreamFrom('127.20.5.10') + upstreamFrom('127.20.5.11')).toBe(0);
  });

  it('closes a connection whose header does not complete within 3 s', async () => {
    const started = Date.now();
    await closedByRelay(port, v2For('127.20.5.12').subarray(0, 10));
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_900);
    expect(h.logs.withCode('PROXY_HEADER_TIMEOUT')).toHaveLength(1);
  });

  it('counts refusals in /metrics by reason', async () => {
    const res = await request(`${h.adminUrl()}/metrics`);
    const text = await res.body.text();
    const sample = (reason: string) => Number(new RegExp(`^cloud_relay_proxy_protocol_refused_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(text)?.[1]);
    expect(sample('untrusted')).toBeGreaterThanOrEqual(2);
    expect(sample('missing')).toBeGreaterThanOrEqual(1);
    expect(sample('invalid')).toBeGreaterThanOrEqual(1);
    expect(sample('timeout')).toBeGreaterThanOrEqual(1);
  });
});
