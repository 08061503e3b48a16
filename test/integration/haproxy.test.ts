import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect as unixConnect } from 'node:net';
import { join } from 'node:path';
import { Client, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { DmsImages } from '../../sim/dms/images.js';
import { startProvisioningSimulator, type ProvisioningSimulator } from '../../sim/provisioning/index.js';
import { issueCert, toPfx } from '../../sim/pki.js';
import { REPO_ROOT, spawnRelay, type RelayProcess } from '../helpers/child.js';
import { tempDir, writeRelayConfig } from '../helpers/relay-config.js';
import { waitFor } from '../helpers/wait.js';
import { freePort } from '../helpers/free-port.js';
import { basicAuth } from '../helpers/phone-client.js';

/**
 * Two real relays behind a real HAProxy running the shipped deploy/haproxy/haproxy.cfg
 * (addresses, ports and check timers replaced; each replacement must match exactly once,
 * so the file cannot drift away from what is tested).
 */
const SHIPPED = join(REPO_ROOT, 'deploy', 'haproxy', 'haproxy.cfg');
const FQDN = 'relay.test.example';
const MB = 1024 * 1024;
const IMAGE = '/swupdate/lb/sip.ld';
const haproxyBin = ['/usr/sbin/haproxy', 'haproxy'].find((b) => spawnSync(b, ['-v']).status === 0);

interface Relay {
  readonly proc: RelayProcess;
  readonly https: number;
  readonly admin: string;
  /** Phone addresses of the requests this relay logged for `path`. */
  ips(path?: string): string[];
}

function replaceOnce(text: string, from: string | RegExp, to: string): string {
  const count = typeof from === 'string' ? text.split(from).length - 1 : (text.match(new RegExp(from.source, `${from.flags}g`)) ?? []).length;
  if (count !== 1) throw new Error(`deploy/haproxy/haproxy.cfg: expected exactly one ${String(from)}, found ${count}`);
  return text.replace(from, to);
}

/** `show stat` over the stats socket: server name → status (UP, DOWN, "UP 1/2", …). */
function serverStatus(sock: string): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    const s = unixConnect(sock, () => s.write('show stat\n'));
    let out = '';
    s.on('data', (c: Buffer) => (out += c.toString()));
    s.on('error', reject);
    s.on('close', () => {
      const lines = out.split('\n');
      const head = (lines[0] ?? '').replace(/^# /, '').split(',');
      const name = head.indexOf('svname');
      const status = head.indexOf('status');
      resolve(
        new Map(
          lines
            .slice(1)
            .filter((l) => l.startsWith('relays,'))
            .map((l) => [l.split(',')[name]!, l.split(',')[status]!]),
        ),
      );
    });
  });
}

describe.skipIf(!haproxyBin)('two relays behind HAProxy (shipped deploy/haproxy/haproxy.cfg)', () => {
  const dir = tempDir('cr-haproxy-');
  const images = new DmsImages({
    images: [{ imageId: 'lb', size: 4 * MB, path: IMAGE }],
    syncWindow: { days: ['mon'], start: '02:00', end: '03:00', notBefore: '2099-01-01T00:00' },
  });
  let sim: DmsSimulator;
  let prov: ProvisioningSimulator;
  let haproxy: ChildProcess;
  const haproxyOut: string[] = [];
  const relays: Relay[] = [];
  let front: number;
  const statsSock = join(dir, 'haproxy.sock');
  let caPem: string;

  async function startRelay(n: number, pfxFile: string): Promise<Relay> {
    const configFile = writeRelayConfig(join(dir), {
      dmsUrl: sim.url,
      caPem: sim.caPem,
      dataDir: join(dir, `data-${n}`),
      extra: {
        pfxFile,
        pfxPassphrase: 'pfx-pass',
        lb: { proxyProtocol: true, trustedProxies: ['127.0.0.1/32'], drainDelaySeconds: 3 },
        shutdownGraceSeconds: 30,
        ipGuard: { maxFailures: 3 },
      },
    });
    // writeRelayConfig always names relay.json: keep one file per relay.
    const own = join(dir, `relay-${n}.json`);
    writeFileSync(own, readFileSync(configFile));
    const proc = spawnRelay(own);
    const started = await proc.waitForLog((l) => l.msg === 'cloud-relay started', 20_000);
    const addr = (k: 'https' | 'admin') => (started[k] as { port: number }).port;
    const admin = `http://127.0.0.1:${addr('admin')}`;
    return {
      proc,
      https: addr('https'),
      admin,
      ips: (path?: string) =>
        proc.stdout
          .filter((l) => l.includes('"phone request"'))
          .map((l) => JSON.parse(l) as { ip: string; path: string })
          .filter((l) => path === undefined || l.path === path)
          .map((l) => l.ip),
    };
  }

  /** A phone downloading the image through HAProxy from its own address, reading at a phone's pace. */
  async function download(phone: string, opts: { onHeaders?: () => void; slow?: boolean } = {}): Promise<{ status: number; sha: string; bytes: number }> {
    const c = new Client(`https://127.0.0.1:${front}`, { connect: { ca: caPem, servername: FQDN }, localAddress: phone, pipelining: 1 });
    try {
      const res = await c.request({ method: 'GET', path: IMAGE, headers: { authorization: basicAuth() } });
      opts.onHeaders?.();
      const hash = createHash('sha256');
      let bytes = 0;
      let sinceRest = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        hash.update(chunk);
        bytes += chunk.length;
        sinceRest += chunk.length;
        // Read-pacing only (keeps downloads in flight across the SIGTERM); no assertion depends on it.
        if (opts.slow && sinceRest >= 256 * 1024) {
          sinceRest = 0;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      return { status: res.statusCode, sha: hash.digest('hex'), bytes };
    } finally {
      await c.close().catch(() => undefined);
    }
  }

  beforeAll(async () => {
    sim = await startDmsSimulator({});
    prov = await startProvisioningSimulator({ ca: sim.ca });
    sim.provisioningUrl = prov.url;
    sim.addRoutes(images.routes);
    caPem = sim.caPem;
    // One certificate for both relays, the phones' single name in its SAN.
    const leaf = issueCert({ cn: FQDN, dnsNames: [FQDN], issuer: sim.ca });
    const pfxFile = join(dir, 'relay.pfx');
    writeFileSync(pfxFile, toPfx(leaf, [sim.ca], 'pfx-pass'));
    relays.push(...(await Promise.all([startRelay(1, pfxFile), startRelay(2, pfxFile)])));
    for (const r of relays) await waitFor(async () => (await request(`${r.admin}/readyz`)).statusCode === 200, { timeoutMs: 20_000, message: 'relay ready' });
    // Stored, not just asked for: the phone port knows the image path only once the relay has the catalogue.
    for (const r of relays) {
      await waitFor(async () => ((await (await request(`${r.admin}/images`)).body.json()) as { images: { imageId: string }[] }).images.some((i) => i.imageId === 'lb'), {
        timeoutMs: 20_000,
        message: 'both relays know the image',
      });
    }

    let cfg = readFileSync(SHIPPED, 'utf8');
    cfg = replaceOnce(cfg, 'bind :443', 'bind 127.0.0.1:FRONT_PORT');
    cfg = replaceOnce(cfg, 'server relay1 192.0.2.11:443 check port 9090', `server relay1 127.0.0.1:${relays[0]!.https} check port ${new URL(relays[0]!.admin).port}`);
    cfg = replaceOnce(cfg, 'server relay2 192.0.2.12:443 check port 9090', `server relay2 127.0.0.1:${relays[1]!.https} check port ${new URL(relays[1]!.admin).port}`);
    // Faster checks so the test notices a draining relay in well under the 3 s drain delay.
    cfg = replaceOnce(cfg, 'inter 2s fall 3 rise 2', 'inter 250ms fall 2 rise 1');
    cfg = replaceOnce(cfg, /^global\n/m, `global\n    stats socket ${statsSock} mode 600 level admin\n`);
    const cfgFile = join(dir, 'haproxy.cfg');
    // HAProxy must be told its port: one probed free can be taken by another test's connection
    // before HAProxy binds it, so a start that dies is tried again on another port.
    for (let attempt = 1; ; attempt++) {
      front = await freePort();
      writeFileSync(cfgFile, cfg.replace('FRONT_PORT', String(front)));
      haproxyOut.length = 0;
      const proc = spawn(haproxyBin!, ['-db', '-f', cfgFile], { stdio: ['ignore', 'pipe', 'pipe'] });
      haproxy = proc;
      proc.stdout!.on('data', (c: Buffer) => haproxyOut.push(c.toString()));
      proc.stderr!.on('data', (c: Buffer) => haproxyOut.push(c.toString()));
      const up = await waitFor(
        async () => {
          if (proc.exitCode !== null) return 'exited';
          const st = await serverStatus(statsSock);
          return st.get('relay1') === 'UP' && st.get('relay2') === 'UP' && 'up';
        },
        { timeoutMs: 15_000, message: 'haproxy sees both relays UP' },
      );
      if (up === 'up') break;
      if (attempt === 3) throw new Error(`haproxy exited (3 ports tried): ${haproxyOut.join('')}`);
    }
  });

  afterAll(async () => {
    haproxy?.kill('SIGTERM');
    for (const r of relays) r.proc.kill('SIGKILL');
    await Promise.all(relays.map((r) => r.proc.exited));
    await prov?.close();
    await sim?.close();
  });

  it('the shipped file is a valid configuration as it stands', () => {
    const r = spawnSync(haproxyBin!, ['-c', '-f', SHIPPED], { encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toMatch(/Configuration file is valid/);
    expect(r.status).toBe(0);
  });

  it('phones download the firmware through it from both relays, with correct bytes; relays see the phones', async () => {
    const phones = Array.from({ length: 12 }, (_, i) => `127.20.7.${i + 1}`);
    const results = await Promise.all(phones.map((p) => download(p)));
    for (const r of results) expect(r).toEqual({ status: 200, sha: images.sha256('lb'), bytes: 4 * MB });
    const [a, b] = relays as [Relay, Relay];
    // The relays' "phone request" lines travel through their stdout pipes and may trail the bodies.
    await waitFor(() => a.ips(IMAGE).length + b.ips(IMAGE).length >= phones.length, { message: 'both relays log the 12 phone requests' });
    expect(a.ips(IMAGE).length).toBeGreaterThan(0);
    expect(b.ips(IMAGE).length).toBeGreaterThan(0);
    expect([...a.ips(IMAGE), ...b.ips(IMAGE)].sort()).toEqual([...phones].sort());
    // Each relay filled its own cache from the DMS.
    expect(images.fileRequests('lb')).toBe(2);
  });

  it('a phone guessing passwords is banned; another phone behind the same balancer still gets in', async () => {
    const guesser = new Client(`https://127.0.0.1:${front}`, { connect: { ca: caPem, servername: FQDN }, localAddress: '127.20.8.66', pipelining: 1 });
    const statuses: number[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const res = await guesser.request({ method: 'GET', path: '/site.cfg', headers: { authorization: basicAuth('PlcmSpIp', 'guess') } });
        await res.body.text();
        statuses.push(res.statusCode);
      }
    } finally {
      await guesser.close();
    }
    expect(statuses).toEqual([401, 401, 401, 403]);
    // The log line travels through the child's stdout pipe, which may trail the 403 response.
    const bannedIps = () => relays.flatMap((r) => r.proc.stdout.filter((l) => l.includes('"IP_BANNED"')).map((l) => (JSON.parse(l) as { ip: string }).ip));
    await waitFor(() => bannedIps().length > 0, { timeoutMs: 10_000, message: 'a relay logs IP_BANNED' });
    expect(bannedIps()).toEqual(['127.20.8.66']);
    for (let i = 0; i < 4; i++) {
      const res = await request(`https://127.0.0.1:${front}/site.cfg`, {
        dispatcher: new Client(`https://127.0.0.1:${front}`, { connect: { ca: caPem, servername: FQDN }, localAddress: '127.20.8.2' }),
        headers: { authorization: basicAuth() },
      });
      await res.body.text();
      expect(res.statusCode).toBe(200);
    }
    expect(relays.flatMap((r) => r.ips()).filter((ip) => !ip.startsWith('127.20.'))).toEqual([]);
  });

  it('SIGTERM on one relay during 50 downloads: every download completes, new ones go to the other relay', async () => {
    const [a, b] = relays as [Relay, Relay];
    let headers = 0;
    const wave1 = Array.from({ length: 50 }, (_, i) => download(`127.20.9.${i + 1}`, { slow: true, onHeaders: () => headers++ }));
    await waitFor(() => headers === 50, { timeoutMs: 20_000, message: 'all 50 downloads under way' });
    // Read from relay a's stdout, which may trail the response headers.
    await waitFor(() => a.ips(IMAGE).some((ip) => ip.startsWith('127.20.9.')), { message: 'relay a serves some of the 50 downloads' });
    a.proc.kill('SIGTERM');
    // Phones arriving before the balancer has noticed still land on a serving port.
    const wave2 = Array.from({ length: 10 }, (_, i) => download(`127.20.10.${i + 1}`));
    await waitFor(async () => (await serverStatus(statsSock)).get('relay1')?.startsWith('DOWN'), { timeoutMs: 10_000, message: 'haproxy marks the draining relay DOWN' });
    // The balancer noticed through /readyz while the relay's phone port was still open (drain delay).
    expect(a.proc.stdout.some((l) => l.includes('shutting down: draining in-flight work'))).toBe(false);
    const wave3Phones = Array.from({ length: 10 }, (_, i) => `127.20.11.${i + 1}`);
    const wave3 = await Promise.all(wave3Phones.map((p) => download(p)));
    for (const r of [...(await Promise.all(wave1)), ...(await Promise.all(wave2)), ...wave3]) {
      expect(r).toEqual({ status: 200, sha: images.sha256('lb'), bytes: 4 * MB });
    }
    await waitFor(() => b.ips(IMAGE).filter((ip) => ip.startsWith('127.20.11.')).length >= wave3Phones.length, { message: 'relay b logs the third wave' });
    expect(
      b
        .ips(IMAGE)
        .filter((ip) => ip.startsWith('127.20.11.'))
        .sort(),
    ).toEqual([...wave3Phones].sort());
    expect(a.ips(IMAGE).filter((ip) => ip.startsWith('127.20.11.'))).toEqual([]);
    expect(await a.proc.exited).toEqual({ code: 0, signal: null });
  }, 90_000);
});
