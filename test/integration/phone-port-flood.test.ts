import { readFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, type Client } from 'undici';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { startProvisioningSimulator, type ProvisioningSimulator } from '../../sim/provisioning/index.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { tempDir } from '../helpers/relay-config.js';
import { PFX_PASS, RELAY_FQDN, basicAuth, phoneClient, relayPki } from '../helpers/phone-client.js';
import { waitFor } from '../helpers/wait.js';
import type { LogLine } from '../helpers/logs.js';

/*
 * Floods on the phone port (README "Phone port under a connection flood"): thousands of idle
 * connections that never start TLS, slow-header (slowloris) clients that finish TLS and then
 * trickle header bytes, and more connections than proxy.maxConnections. The relay cuts the
 * idle ones after proxy.handshakeTimeoutMs, the slow ones after proxy.headersTimeoutMs (408),
 * refuses those over the cap at once, logs PHONE_CONNECTIONS_CUT with counts (a few lines,
 * not one per connection), and serves a real phone throughout. Loopback only, bounded count.
 */

/** Each flood connection costs two descriptors in this process (client and relay side). */
function floodBudget(want: number): number {
  const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  const limit = m ? Number(m[1]) : 1024;
  return Math.max(100, Math.min(want, Math.floor((limit - 512) / 2)));
}

const flooderAddress = (i: number) => `127.20.${201 + ((i >> 8) % 4)}.${(i % 254) + 1}`;

interface Flood {
  sockets: Socket[];
  closed: number;
  /** Resolves when every socket of the flood has been closed by the relay. */
  allClosed: Promise<void>;
}

function track(sockets: Socket[]): Flood {
  const flood: Flood = { sockets, closed: 0, allClosed: Promise.resolve() };
  flood.allClosed = new Promise((resolve) => {
    for (const s of sockets) {
      s.on('error', () => undefined);
      // Flowing, so the relay's 408 or FIN is read and 'close' follows.
      s.resume();
      s.once('close', () => {
        flood.closed++;
        if (flood.closed === sockets.length) resolve();
      });
    }
  });
  return flood;
}

async function idleFlood(port: number, n: number, first: number): Promise<Flood> {
  const sockets: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = tcpConnect({ host: '127.0.0.1', port, localAddress: flooderAddress(first + i) });
    sockets.push(s);
  }
  const flood = track(sockets);
  await Promise.all(sockets.map((s) => new Promise<void>((r) => (s.connecting ? s.once('connect', () => r()).once('close', () => r()) : r()))));
  return flood;
}

/** TLS done, then "GET / HTTP/1.1" and one header byte every few hundred ms: never a complete request. */
async function slowlorisFlood(port: number, caPem: string, n: number, first: number): Promise<{ flood: Flood; stop: () => void }> {
  const sockets = await Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise<Socket | undefined>((resolve) => {
          const raw = tcpConnect({ host: '127.0.0.1', port, localAddress: flooderAddress(first + i) });
          const s = tlsConnect({ socket: raw, ca: caPem, servername: RELAY_FQDN }, () => {
            s.write(`GET /site.cfg HTTP/1.1\r\nHost: ${RELAY_FQDN}\r\n`);
            resolve(s);
          });
          // On a loaded machine a handshake may itself miss the relay's deadline: that one was cut as idle.
          s.once('error', () => resolve(undefined));
        }),
    ),
  );
  const flood = track(sockets.filter((s): s is Socket => s !== undefined));
  const drip = setInterval(() => {
    for (const s of flood.sockets) if (!s.destroyed) s.write('X');
  }, 200);
  return { flood, stop: () => clearInterval(drip) };
}

const CAP = 3_000;
let sim: DmsSimulator;
let prov: ProvisioningSimulator;
let h: Harness;
let phone: Client;
let port: number;

const cutLines = (): LogLine[] => h.logs.withCode('PHONE_CONNECTIONS_CUT');
const cutTotal = (k: 'handshakeTimeouts' | 'headerTimeouts' | 'overCap'): number => cutLines().reduce((a, l) => a + Number(l[k] ?? 0), 0);

async function phoneIsServed(): Promise<void> {
  const res = await phone.request({ method: 'GET', path: '/site.cfg', headers: { host: RELAY_FQDN, authorization: basicAuth('PlcmSpIp', 'PlcmSpIp') } });
  const body = await res.body.text();
  expect(res.statusCode).toBe(200);
  expect(body).toBe(prov.files.get('site.cfg')?.toString());
}

beforeAll(async () => {
  sim = await startDmsSimulator({});
  prov = await startProvisioningSimulator({ ca: sim.ca });
  sim.provisioningUrl = prov.url;
  const pki = relayPki(tempDir('cr-flood-'), sim.ca);
  h = await startHarness({
    existingSim: sim,
    relayConfig: {
      pfxFile: pki.pfxFile,
      pfxPassphrase: PFX_PASS,
      // 3 s: opening the flood and serving the phone meanwhile must fit inside it on a loaded machine.
      proxy: { handshakeTimeoutMs: 3_000, headersTimeoutMs: 3_000, maxConnections: CAP },
    },
  });
  await h.registered();
  port = h.daemon.addresses.https!.port;
  phone = phoneClient(port, sim.caPem, '127.20.200.1');
});

afterAll(async () => {
  await phone?.close();
  await h?.close();
  await prov?.close();
  await sim?.close();
});

describe('phone port under a connection flood', () => {
  it('idle and slow-header connections by the thousand are cut on time, counted in a few lines, and a real phone is served throughout', async () => {
    const idleN = floodBudget(2_000);
    const slow = await slowlorisFlood(port, sim.caPem, Math.min(500, Math.floor(idleN / 4)), idleN);
    const slowN = slow.flood.sockets.length;
    expect(slowN).toBeGreaterThan(0);
    const idle = await idleFlood(port, idleN, 0);
    try {
      // While the idle connections wait out their handshake deadline and the slow-header
      // clients trickle their bytes, a phone gets its file.
      await phoneIsServed();
      expect(idle.closed).toBeLessThan(idleN);
      await waitFor(() => idle.closed === idleN && slow.flood.closed === slowN, {
        timeoutMs: 20_000,
        get message() {
          return `every flood connection cut (idle ${idle.closed}/${idleN}, slow ${slow.flood.closed}/${slowN})`;
        },
      });
    } finally {
      slow.stop();
    }
    await waitFor(() => cutTotal('handshakeTimeouts') >= idleN && cutTotal('headerTimeouts') >= slowN, { timeoutMs: 20_000, message: 'the cuts reported with counts' });
    // Counted, not logged per connection.
    expect(cutLines().length).toBeLessThanOrEqual(4);
    expect(h.logs.lines().filter((l) => /phone request refused/.test(String(l.msg)))).toHaveLength(0);
    expect(cutLines()[0]).toMatchObject({ level: 'warn', port: 'https', addresses: expect.any(Number) });
    const metrics = await (await request(`${h.adminUrl()}/metrics`)).body.text();
    const counted = (reason: string) => Number(new RegExp(`^cloud_relay_phone_connections_cut_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(metrics)?.[1]);
    expect(counted('handshake_timeout')).toBeGreaterThanOrEqual(idleN);
    expect(counted('headers_timeout')).toBeGreaterThanOrEqual(slowN);
    await phoneIsServed();
  }, 60_000);

  it('connections over proxy.maxConnections are refused at once and counted; phones get in again as soon as there is room', async (ctx) => {
    const over = 1_000;
    if (floodBudget(CAP + over) < CAP + over) {
      ctx.skip(`needs ${2 * (CAP + over) + 512} open files; the limit here is lower (ulimit -n)`);
      return;
    }
    const before = cutTotal('overCap');
    const idle = await idleFlood(port, CAP + over, 10_000);
    // The ones over the cap were closed by the relay straight away, the rest after the handshake
    // timeout. (How many were over the cap depends on how fast this machine opens them: the first
    // ones may already be cut as idle when the last arrive.)
    await waitFor(() => idle.closed === CAP + over, {
      timeoutMs: 20_000,
      get message() {
        return `every flood connection closed (${idle.closed}/${CAP + over})`;
      },
    });
    await waitFor(() => cutTotal('overCap') > before && cutTotal('handshakeTimeouts') > 0, { timeoutMs: 20_000, message: 'over-cap refusals reported' });
    expect(cutTotal('overCap') - before).toBeLessThanOrEqual(over + 1);
    await phoneIsServed();
    const res = await request(`${h.adminUrl()}/readyz`);
    expect(res.statusCode).toBe(200);
    await res.body.dump();
  }, 60_000);
});
