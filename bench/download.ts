/**
 * npm run bench:download — the relay's firmware serving against nginx on the same file.
 *
 * Scenarios (same run, same certificate type: RSA 2048 leaf from one test CA, TLS on loopback):
 *   relay-cold   N concurrent downloads of an uncached image: one upstream fetch (single flight)
 *   relay-warm   N concurrent downloads of the now cached image
 *   nginx-warm   N concurrent downloads of the same bytes from nginx (started by this script)
 * Per scenario: server CPU seconds per GB served (utime+stime of the server's processes from
 * /proc), aggregate MB/s, TTFB p50/p99 (first body byte), upstream fetches, peak RSS (VmRSS
 * sampled every 50 ms over the server's processes). Prints a table, then one JSON line.
 * Bounded: BENCH_CLIENTS (200) downloads per scenario, BENCH_MB (50) MB each, 180 s per scenario.
 * The relay runs with the node flags it ships with (see goals.ts). Goals for a small VM: warm
 * CPU per GB at most nginx's in the same run, peak RSS at most 64 MB.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { Agent, request } from 'undici';
import { startDmsSimulator } from '../sim/dms/index.js';
import { DmsImages } from '../sim/dms/images.js';
import { startProvisioningSimulator } from '../sim/provisioning/index.js';
import { issueCert, toPfx } from '../sim/pki.js';
import { goalFields, relayEnv, shippedNodeOptions } from './goals.js';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 200);
const SIZE = Number(process.env.BENCH_MB ?? 50) * 1024 * 1024;
const SCENARIO_TIMEOUT_MS = 180_000;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim() || 100);
const IMAGE_PATH = '/swupdate/bench/sip.ld';

interface Result {
  scenario: string;
  clients: number;
  ok: number;
  bytes: number;
  seconds: number;
  mbps: number;
  cpuSec: number;
  cpuSecPerGB: number;
  ttfbP50Ms: number;
  ttfbP99Ms: number;
  peakRssMB: number;
  upstreamFetches: number | null;
}

function pidsOf(root: number): number[] {
  // The server and all its descendants (nginx master + workers).
  const parents = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(d), ppid);
    } catch {
      // process gone
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [pid, pp] of parents) if (pp === out[i]) out.push(pid);
  return out;
}

function cpuTicks(pids: number[]): number {
  let t = 0;
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      t += Number(f[11]) + Number(f[12]); // utime, stime
    } catch {
      // exited
    }
  }
  return t;
}

function rssKb(pids: number[]): number {
  let kb = 0;
  for (const p of pids) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      kb += Number(m?.[1] ?? 0);
    } catch {
      // exited
    }
  }
  return kb;
}

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};

async function load(name: string, url: string, ca: string, rootPid: number, expectSha: string, auth: string | undefined, upstream: () => number | null): Promise<Result> {
  const dispatcher = new Agent({
    connections: CLIENTS,
    pipelining: 1,
    connect: { ca, servername: 'relay.bench.test', timeout: 60_000 },
    bodyTimeout: SCENARIO_TIMEOUT_MS,
    headersTimeout: SCENARIO_TIMEOUT_MS,
  });
  const pids = pidsOf(rootPid);
  const cpu0 = cpuTicks(pids);
  const up0 = upstream();
  let peak = rssKb(pids);
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssKb(pidsOf(rootPid)));
  }, 50);
  const ttfb: number[] = [];
  let bytes = 0;
  let ok = 0;
  const t0 = performance.now();
  const deadline = AbortSignal.timeout(SCENARIO_TIMEOUT_MS);
  setMaxListeners(CLIENTS + 10, deadline);
  let checked = false;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      const start = performance.now();
      try {
        const res = await request(url, { dispatcher, headers: auth ? { authorization: auth } : {}, signal: deadline });
        let first = true;
        let n = 0;
        // One body is hashed to prove the bytes; the others are counted (the client is the bottleneck).
        const hash = !checked ? createHash('sha256') : undefined;
        checked = true;
        for await (const chunk of res.body) {
          if (first) {
            ttfb.push(performance.now() - start);
            first = false;
          }
          n += (chunk as Buffer).length;
          hash?.update(chunk as Buffer);
        }
        bytes += n;
        if (res.statusCode === 200 && n === SIZE && (!hash || hash.digest('hex') === expectSha)) ok++;
        else if (hash) console.error(`${name}: body check failed (status ${res.statusCode}, ${n} bytes)`);
      } catch (err) {
        console.error(`${name}: ${String(err)}`);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, rssKb(pidsOf(rootPid)));
  const cpuSec = (cpuTicks(pidsOf(rootPid)) - cpu0) / CLK_TCK;
  await dispatcher.close();
  const up1 = upstream();
  const gb = bytes / 1024 ** 3;
  return {
    scenario: name,
    clients: CLIENTS,
    ok,
    bytes,
    seconds: round(seconds, 2),
    mbps: round(bytes / 1024 ** 2 / seconds, 1),
    cpuSec: round(cpuSec, 2),
    cpuSecPerGB: round(gb > 0 ? cpuSec / gb : NaN, 3),
    ttfbP50Ms: round(pct(ttfb, 50), 1),
    ttfbP99Ms: round(pct(ttfb, 99), 1),
    peakRssMB: round(peak / 1024, 1),
    upstreamFetches: up0 === null || up1 === null ? null : up1 - up0,
  };
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

function waitForLine(child: ChildProcess, pred: (l: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let rest = '';
    const timer = setTimeout(() => reject(new Error('relay did not start in time')), timeoutMs);
    child.stdout?.on('data', (b: Buffer) => {
      rest += b.toString();
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) {
        try {
          const j = JSON.parse(l) as Record<string, unknown>;
          if (pred(j)) {
            clearTimeout(timer);
            resolve(j);
          }
        } catch {
          // not JSON
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`relay exited with ${code}`)));
  });
}

function ensureNginx(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).stdout.trim();
  if (found) return found;
  if (process.getuid?.() !== 0) return undefined;
  console.error('installing nginx (apt-get)…');
  spawnSync('apt-get', ['install', '-y', '-q', 'nginx-light'], { stdio: 'ignore', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  let again = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).stdout.trim();
  if (!again) {
    spawnSync('apt-get', ['update', '-q'], { stdio: 'ignore', timeout: 300_000 });
    spawnSync('apt-get', ['install', '-y', '-q', 'nginx'], { stdio: 'ignore', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    again = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).stdout.trim();
  }
  return again || undefined;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'cr-bench-dl-'));
  const children: ChildProcess[] = [];
  // Ctrl-C or a TERM must not leave a relay or nginx (and 100 MB of files) behind.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const c of children) c.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  }
  try {
    const dms = new DmsImages({
      images: [{ imageId: 'bench', size: SIZE, path: IMAGE_PATH }],
      // The agent must not pre-fill: phones trigger the cold single-flight fill.
      syncWindow: { days: ['mon'], start: '02:00', end: '03:00', notBefore: '2099-01-01T00:00' },
    });
    const sim = await startDmsSimulator({});
    const prov = await startProvisioningSimulator({ ca: sim.ca });
    sim.provisioningUrl = prov.url;
    sim.addRoutes(dms.routes);
    const sha = dms.sha256('bench');
    // The DMS hosts the image on its provisioning server too: the relay's credential check (HEAD) needs it there.
    dms.publish((name, body) => prov.setFile(name, body));

    // Phone-facing certificate: RSA 2048 from the same CA type nginx gets.
    const leaf = issueCert({ cn: 'relay.bench.test', dnsNames: ['relay.bench.test'], issuer: sim.ca, keyBits: 2048 });
    const pfx = toPfx(leaf, [sim.ca], 'bench-pass');
    writeFileSync(join(dir, 'relay.pfx'), pfx);
    writeFileSync(join(dir, 'dms-ca.pem'), sim.caPem);
    writeFileSync(join(dir, 'leaf.pem'), `${leaf.certPem}${sim.ca.certPem}`);
    writeFileSync(join(dir, 'leaf.key'), leaf.keyPem, { mode: 0o600 });
    const cfgFile = join(dir, 'relay.json');
    writeFileSync(
      cfgFile,
      JSON.stringify({
        dmsUrl: sim.url,
        dmsCaFile: join(dir, 'dms-ca.pem'),
        tenantId: 't-4711',
        pin: '493027',
        fqdn: 'relay.bench.test',
        dataDir: join(dir, 'data'),
        httpsListen: '127.0.0.1:0',
        openstage: { dlsListen: '127.0.0.1:0' },
        adminListen: '127.0.0.1:0',
        logLevel: 'warn',
        pfxFile: join(dir, 'relay.pfx'),
        pfxPassphrase: 'bench-pass',
      }),
    );
    const cli = new URL('../src/cli.js', import.meta.url).pathname;
    // BENCH_RELAY_ARGS: extra node flags for the relay (e.g. --cpu-prof) when looking for where time goes.
    const relayArgs = (process.env.BENCH_RELAY_ARGS ?? '').split(' ').filter((a) => a !== '');
    const relay = spawn(process.execPath, [...relayArgs, cli, 'start', '--config', cfgFile], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: relayEnv({ ...process.env, CLOUD_RELAY_LOG_LEVEL: 'info' }),
    });
    children.push(relay);
    const started = await waitForLine(relay, (l) => l.msg === 'cloud-relay started', 30_000);
    const https = started.https as { port: number } | undefined;
    if (!https) throw new Error('relay reported no https address');
    const relayUrl = `https://127.0.0.1:${https.port}${IMAGE_PATH}`;
    const auth = `Basic ${Buffer.from('PlcmSpIp:PlcmSpIp').toString('base64')}`;
    // Wait until the relay is registered and knows the image (catalogue fetched).
    const admin = started.admin as { port: number };
    for (let i = 0; i < 200; i++) {
      const r = await fetch(`http://127.0.0.1:${admin.port}/images`)
        .then((x) => x.json() as Promise<{ images: unknown[] }>)
        .catch(() => ({ images: [] }));
      if (r.images.length > 0) break;
      await new Promise((r2) => setTimeout(r2, 100));
    }
    // The certificate names only the FQDN (the relay refuses IP SANs): clients verify that name on 127.0.0.1.
    const ca = sim.caPem;
    const relayLoad = (name: string) => load(name, relayUrl, ca, relay.pid as number, sha, auth, () => dms.fileRequests('bench'));

    const results: Result[] = [];
    results.push(await relayLoad('relay-cold'));
    results.push(await relayLoad('relay-warm'));

    const nginx = ensureNginx();
    if (nginx) {
      const root = join(dir, 'www');
      mkdirSync(join(root, 'swupdate', 'bench'), { recursive: true });
      copyFileSync(join(dir, 'data', 'cache', 'objects', sha), join(root, IMAGE_PATH));
      const port = 20000 + Math.floor(Math.random() * 20000);
      const conf = join(dir, 'nginx.conf');
      writeFileSync(
        conf,
        `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes auto;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 30s;
  client_body_temp_path ${dir}/nginx-tmp;
  proxy_temp_path ${dir}/nginx-tmp;
  fastcgi_temp_path ${dir}/nginx-tmp;
  uwsgi_temp_path ${dir}/nginx-tmp;
  scgi_temp_path ${dir}/nginx-tmp;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${dir}/leaf.pem;
    ssl_certificate_key ${dir}/leaf.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    root ${root};
  }
}
`,
      );
      mkdirSync(join(dir, 'nginx-tmp'), { recursive: true });
      const ng = spawn(nginx, ['-c', conf, '-e', join(dir, 'nginx-error.log'), '-g', 'daemon off;'], { stdio: ['ignore', 'inherit', 'inherit'] });
      children.push(ng);
      for (let i = 0; i < 100; i++) {
        const ok = await request(`https://127.0.0.1:${port}${IMAGE_PATH}`, {
          method: 'HEAD',
          dispatcher: new Agent({ connect: { ca, servername: 'relay.bench.test', timeout: 60_000 } }),
        })
          .then((r) => r.statusCode === 200)
          .catch(() => false);
        if (ok) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      results.push(await load('nginx-warm', `https://127.0.0.1:${port}${IMAGE_PATH}`, ca, ng.pid as number, sha, undefined, () => null));
    } else {
      console.error('nginx not available (not root and not installed): nginx column skipped');
    }

    const cols: (keyof Result)[] = ['scenario', 'clients', 'ok', 'seconds', 'mbps', 'cpuSec', 'cpuSecPerGB', 'ttfbP50Ms', 'ttfbP99Ms', 'peakRssMB', 'upstreamFetches'];
    const widths = cols.map((c) => Math.max(c.length, ...results.map((r) => String(r[c]).length)));
    console.log(cols.map((c, i) => c.padEnd(widths[i] as number)).join('  '));
    for (const r of results) console.log(cols.map((c, i) => String(r[c]).padEnd(widths[i] as number)).join('  '));
    const get = (s: string) => results.find((r) => r.scenario === s);
    const relayPeakRssMB = Math.max(get('relay-warm')?.peakRssMB ?? 0, get('relay-cold')?.peakRssMB ?? 0);
    const relayCpu = get('relay-warm')?.cpuSecPerGB;
    const nginxCpu = get('nginx-warm')?.cpuSecPerGB;
    console.log(
      JSON.stringify({
        bench: 'download',
        clients: CLIENTS,
        imageMB: SIZE / 1024 / 1024,
        relayCpuSecPerGB: get('relay-warm')?.cpuSecPerGB ?? null,
        nginxCpuSecPerGB: get('nginx-warm')?.cpuSecPerGB ?? null,
        relayMBps: get('relay-warm')?.mbps ?? null,
        nginxMBps: get('nginx-warm')?.mbps ?? null,
        coldUpstreamFetches: get('relay-cold')?.upstreamFetches ?? null,
        coldFollowerTtfbP99Ms: get('relay-cold')?.ttfbP99Ms ?? null,
        coldCpuSecPerGB: get('relay-cold')?.cpuSecPerGB ?? null,
        coldMBps: get('relay-cold')?.mbps ?? null,
        nginxPeakRssMB: get('nginx-warm')?.peakRssMB ?? null,
        allBodiesOk: results.every((r) => r.ok === r.clients),
        ...goalFields([
          { name: 'cpuRatio', value: relayCpu !== undefined && nginxCpu !== undefined ? relayCpu / nginxCpu : null, atMost: 1.0 },
          { name: 'relayPeakRssMB', value: relayPeakRssMB, atMost: 64 },
        ]),
        nodeOptions: shippedNodeOptions(),
      }),
    );
    await prov.close();
    await sim.close();
  } finally {
    for (const c of children.reverse()) {
      c.kill('SIGTERM');
      await new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(undefined) : c.once('exit', r)));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
