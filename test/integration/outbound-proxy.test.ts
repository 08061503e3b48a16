import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from 'undici';
import WebSocket from 'ws';
import { DmsClient } from '../../src/dms/client.js';
import { loadDmsTrust } from '../../src/dms/trust.js';
import { OutboundProxy } from '../../src/dms/outbound-proxy.js';
import { createCa } from '../../sim/pki.js';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { DmsImages } from '../../sim/dms/images.js';
import { startProvisioningSimulator, type ProvisioningSimulator } from '../../sim/provisioning/index.js';
import { PhoneFarm } from '../../sim/phone/farm.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { tempDir } from '../helpers/relay-config.js';
import { waitFor } from '../helpers/wait.js';
import { freePort } from '../helpers/free-port.js';
import { runTask } from '../helpers/devices.js';
import { PFX_PASS, basicAuth, phoneClient, relayPki } from '../helpers/phone-client.js';
import { PROXY_EGRESS, startTinyproxy, tinyproxyBin, type Tinyproxy } from '../helpers/tinyproxy.js';

/**
 * The relay behind a real forward proxy (tinyproxy, Basic auth, CONNECT allowed to the DMS and
 * provisioning ports only). The proxy's outgoing connections leave from PROXY_EGRESS, so the
 * simulators' own records of who connected prove which requests went through it.
 */
describe.skipIf(!tinyproxyBin)('outbound proxy (real tinyproxy)', () => {
  const dir = tempDir('cr-outbound-proxy-');
  const root = createCa('outbound proxy test root');
  // `blocked` lives on a port the proxy's policy refuses (not a ConnectPort): its download fails with the proxy named.
  const images = new DmsImages({
    images: [
      { imageId: 'img', size: 256 * 1024 },
      { imageId: 'blocked', size: 1024, url: 'https://127.0.0.1:9/blocked.ld' },
    ],
  });
  let sim: DmsSimulator;
  let prov: ProvisioningSimulator;
  let tp: Tinyproxy;
  let h: Harness;
  let relayId: string;
  let farm: PhoneFarm;
  let phone: Client;
  const credsFile = join(dir, 'proxy-credentials');
  const simPort = () => Number(new URL(sim.url).port);

  beforeAll(async () => {
    sim = await startDmsSimulator({ ca: root, heartbeatIntervalSeconds: 1 });
    sim.addRoutes(images.routes);
    prov = await startProvisioningSimulator({ ca: root });
    sim.provisioningUrl = prov.url;
    tp = await startTinyproxy({ dir, user: 'relay', password: 'pr0xy-pass', connectPorts: [simPort(), Number(new URL(prov.url).port)] });
    writeFileSync(credsFile, 'relay:pr0xy-pass\n', { mode: 0o600 });
    const pki = relayPki(tempDir('cr-outbound-proxy-pki-'), root);
    h = await startHarness({
      existingSim: sim,
      relayConfig: { pfxFile: pki.pfxFile, pfxPassphrase: PFX_PASS, outboundProxy: { url: tp.url(), credentialsFile: credsFile } },
      // The standard variables lose to outboundProxy.url: this one would send everything direct.
      env: { NO_PROXY: 'nothing.example', HTTPS_PROXY: 'http://127.0.0.1:9' },
    });
    relayId = await h.connected();
    farm = await PhoneFarm.start({ count: 1, firstIndex: 6000 + (process.pid % 50) * 100, hosts: { 'relay.test.example': '127.0.0.1' } });
    phone = phoneClient(h.daemon.addresses.https!.port, root.certPem);
  });

  afterAll(async () => {
    await phone?.close();
    await farm?.close();
    await h?.close();
    await tp?.close();
    await prov?.close();
    await sim?.close();
  });

  it('registration, heartbeats, the control channel, a pass-through GET and an image download go through it; phones never do', async () => {
    await waitFor(() => h.daemon.statusDocument().managementAgent.heartbeat.sent >= 2, { timeoutMs: 10_000, message: 'two heartbeats' });
    await waitFor(() => h.daemon.statusDocument().images.synced === 1, { timeoutMs: 15_000, message: 'image synced' });
    const res = await phone.request({ method: 'GET', path: '/000000000000.cfg', headers: { authorization: basicAuth() } });
    await res.body.text();
    expect(res.statusCode).toBe(200);
    const r = await runTask(sim, relayId, { command: { kind: 'status' }, targets: [farm.target(0)] });
    expect([...r.values()][0]?.outcome).toBe('success');

    const peers = sim.peers();
    const seen = (what: (p: (typeof peers)[number]) => boolean) => peers.filter(what);
    expect(seen((p) => p.path === '/api/v1/relays/register').length).toBeGreaterThanOrEqual(1);
    expect(seen((p) => /\/heartbeat$/.test(p.path)).length).toBeGreaterThanOrEqual(2);
    expect(seen((p) => p.upgrade).length).toBeGreaterThanOrEqual(1);
    expect(seen((p) => p.path === '/api/v1/image-files/img').length).toBeGreaterThanOrEqual(1);
    // Every one of them arrived from the proxy, none from the relay's own address.
    expect(new Set(peers.map((p) => p.from))).toEqual(new Set([PROXY_EGRESS]));
    expect(prov.seen('/000000000000.cfg').map((q) => q.from)).toEqual([PROXY_EGRESS]);
    // The image on a port the proxy refuses failed at once (a policy answers the same on every retry), the proxy named.
    // Waited for before the CONNECT targets are read: its download may start after the other image's ends.
    const blocked = await waitFor(() => h.daemon.statusDocument().firmwareSync.images.find((i) => i.imageId === 'blocked' && i.state === 'failed'), {
      timeoutMs: 10_000,
      message: 'blocked image failed',
    });
    expect(blocked.reason).toMatch(/the outbound proxy http:\/\/127\.0\.0\.1:\d+ refused to open a tunnel to 127\.0\.0\.1:9 \(HTTP 403 to CONNECT\).*\(PROXY_CONNECT_REFUSED\)/);
    expect(tp.connects().filter((t) => t === '127.0.0.1:9')).toHaveLength(1);
    // The proxy was asked for the DMS and the provisioning server only: never a phone (127.20.x.y).
    const targets = new Set(tp.connects());
    expect(targets).toEqual(new Set([new URL(sim.url).host, new URL(prov.url).host, '127.0.0.1:9']));

    const route = h.daemon.statusDocument().managementAgent.route;
    expect(route).toEqual({ via: 'proxy', proxy: tp.url(), why: `through proxy ${tp.url()} (from outboundProxy.url)` });
    // The proxy password is in no log line and in no status.
    expect(h.logs.text()).not.toContain('pr0xy-pass');
    expect(JSON.stringify(h.daemon.statusDocument())).not.toContain('pr0xy-pass');
  });

  it('the control channel reconnects through the proxy after a drop', async () => {
    const before = sim.peers().filter((p) => p.upgrade).length;
    const reconnects = h.daemon.statusDocument().managementAgent.control.reconnects;
    expect(sim.disconnect(relayId, 1011, 'test drop')).toBe(true);
    await waitFor(() => h.daemon.statusDocument().managementAgent.control.reconnects > reconnects && h.daemon.agent?.control.connected && sim.connected(relayId), {
      timeoutMs: 10_000,
      message: 'reconnected',
    });
    const upgrades = sim.peers().filter((p) => p.upgrade);
    expect(upgrades.length).toBeGreaterThan(before);
    expect(upgrades.at(-1)?.from).toBe(PROXY_EGRESS);
  });

  it('a wrong proxy password gives the 407 diagnosis in the log, the status and on the status page', async () => {
    const bad = await startHarness({
      existingSim: sim,
      relayConfig: { outboundProxy: { url: tp.url('relay:wrong-pass') } },
    });
    try {
      await waitFor(() => bad.daemon.statusDocument().managementAgent.lastRegistrationError?.code === 'PROXY_AUTH_FAILED', { timeoutMs: 10_000, message: 'PROXY_AUTH_FAILED' });
      const err = bad.daemon.statusDocument().managementAgent.lastRegistrationError!;
      expect(err.message).toMatch(/answered CONNECT .* with HTTP 40[17]: the credentials of user "relay" were refused/);
      expect(err.message).not.toContain('wrong-pass');
      expect(bad.logs.text()).toContain('PROXY_AUTH_FAILED');
      expect(bad.logs.text()).not.toContain('wrong-pass');
      const page = await (await fetch(`${bad.adminUrl()}/`)).text();
      expect(page).toContain('PROXY_AUTH_FAILED');
      expect(page).toContain('relay:redacted@');
      expect(page).not.toContain('wrong-pass');
    } finally {
      await bad.close();
    }
  });

  it("the control channel tells the proxy's 407 at the upgrade from the DMS's 401", async () => {
    const caFile = join(dir, 'root.pem');
    writeFileSync(caFile, root.certPem);
    const url = `${sim.url.replace(/^https:/, 'wss:')}/api/v1/relays/${relayId}/control`;
    const refusal = async (credentials: string) => {
      const dms = new DmsClient({
        dmsUrl: sim.url,
        trust: loadDmsTrust(caFile),
        proxy: OutboundProxy.from({ url: tp.url(credentials) }, {}),
        clock: { now: () => Date.now() },
        apiTimeoutMs: 2_000,
        bulkConnections: 1,
      });
      const ws = new WebSocket(url, 'relay.v1', { ...dms.webSocketOptions(url), followRedirects: false });
      ws.on('error', () => undefined);
      const answer = await new Promise<{ status: number; named: string | undefined }>((resolve) =>
        ws.on('unexpected-response', (req, res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, named: dms.upgradeRefusal(req, res.statusCode ?? 0, url)?.code });
          ws.terminate();
        }),
      );
      await dms.close();
      return answer;
    };
    // tinyproxy answers a wrong password with 401, as the DMS answers a missing token: only the CONNECT tells them apart.
    expect(await refusal('relay:wrong')).toEqual({ status: 401, named: 'PROXY_AUTH_FAILED' });
    expect(await refusal('relay:pr0xy-pass')).toEqual({ status: 401, named: undefined });
  });

  it('a CONNECT the proxy refuses by policy gives its own diagnosis', async () => {
    // The admin port of the simulator is not among the proxy's ConnectPort entries.
    const blocked = await startDmsSimulator({ ca: root });
    const other = await startHarness({ existingSim: blocked, relayConfig: { outboundProxy: { url: tp.url('relay:pr0xy-pass') } } });
    try {
      await waitFor(() => other.daemon.statusDocument().managementAgent.lastRegistrationError?.code === 'PROXY_CONNECT_REFUSED', {
        timeoutMs: 10_000,
        message: 'PROXY_CONNECT_REFUSED',
      });
      expect(other.daemon.statusDocument().managementAgent.lastRegistrationError?.message).toMatch(/HTTP 403 to CONNECT/);
    } finally {
      await other.close();
      await blocked.close();
    }
  });

  it('names an unreachable proxy, and a DMS certificate the trust store does not know (a re-signing proxy)', async () => {
    const otherCa = join(dir, 'other-ca.pem');
    writeFileSync(otherCa, createCa('a corporate CA the DMS does not use').certPem);
    const closed = `http://127.0.0.1:${await freePort()}`;
    const cases = [
      { outboundProxy: { url: closed }, code: 'PROXY_UNREACHABLE', message: /cannot reach the outbound proxy http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED/ },
      {
        outboundProxy: { url: tp.url('relay:pr0xy-pass') },
        dmsCaFile: otherCa,
        code: 'DMS_TLS_UNTRUSTED_BEHIND_PROXY',
        message: /through the outbound proxy .* is not trusted \(.+\): the proxy probably re-signs TLS; put its CA \(PEM\) in dmsCaFile/,
      },
    ];
    for (const c of cases) {
      const { code, message, ...relayConfig } = c;
      const r = await startHarness({ existingSim: sim, relayConfig });
      try {
        const err = await waitFor(
          () => (r.daemon.statusDocument().managementAgent.lastRegistrationError?.code === code ? r.daemon.statusDocument().managementAgent.lastRegistrationError : undefined),
          {
            timeoutMs: 10_000,
            message: code,
          },
        );
        expect(err.message).toMatch(message);
      } finally {
        await r.close();
      }
    }
  });

  it('NO_PROXY with a CIDR range sends the DMS host direct', async () => {
    // The first relay still heartbeats through the proxy meanwhile (and may open a new tunnel when its
    // keep-alive lapses under load), so the proxy's CONNECT count proves nothing here; where this
    // relay's requests arrived from does.
    const peersBefore = sim.peers().length;
    const direct = await startHarness({ existingSim: sim, env: { https_proxy: tp.url('relay:pr0xy-pass'), NO_PROXY: `10.0.0.0/8, 127.0.0.0/8:${simPort()}` } });
    try {
      const id = await direct.connected();
      expect(direct.daemon.statusDocument().managementAgent.route?.why).toBe(`direct: NO_PROXY entry "127.0.0.0/8:${simPort()}" matches ${new URL(sim.url).host}`);
      const since = sim.peers().slice(peersBefore);
      const mine = since.filter((p) => p.path.includes(id));
      expect(mine.some((p) => p.upgrade)).toBe(true);
      expect(mine.every((p) => p.from === '127.0.0.1')).toBe(true);
      expect(since.filter((p) => p.path === '/api/v1/relays/register').some((p) => p.from === '127.0.0.1')).toBe(true);
    } finally {
      await direct.close();
    }
  });
});
