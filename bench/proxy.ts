/**
 * bench:proxy — small config GETs (2–20 KB, Basic auth, keep-alive, concurrency 64) through
 * the relay, through nginx (equivalent HTTPS proxy_pass with upstream keep-alive) and direct
 * to the provisioning simulator. Client, proxies and origin share this machine's cores, so
 * besides req/s and latency it measures each proxy's own CPU time per 1,000 requests from
 * /proc/<pid>/stat of the proxy's processes only. Loopback only; every loop is bounded.
 *
 * BENCH_PROXY_PROTOCOL=1 adds a row `relay-pp`: a second relay with lb.proxyProtocol on,
 * every connection opened from 127.0.0.1 (the trusted "balancer") with a PROXY v2 header
 * naming a phone on 127.20.x.y before the TLS handshake — the cost of running behind HAProxy.
 * BENCH_PROXY_REQUESTS / BENCH_PROXY_WARMUP shrink a run (e.g. 300 / 100 for a smoke run).
 * The relay runs with the node flags it ships with (see goals.ts). Goals for a small VM: CPU per
 * 1k requests at most 1.3× nginx's, p99 at most nginx's + 2 ms, both from the same run.
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Pool, type buildConnector } from 'undici';
import forge from 'node-forge';
import { issueCert, toPfx, type KeyedCert } from '../sim/pki.js';
import { encodeProxyV2 } from '../src/http/proxy-protocol.js';
import { goalFields, peakRssMB, relayEnv, shippedNodeOptions } from './goals.js';

const CONCURRENCY = 64;
const WARMUP = Number(process.env.BENCH_PROXY_WARMUP ?? 2_000);
const PROXY_PROTOCOL = process.env.BENCH_PROXY_PROTOCOL === '1';
const REQUESTS = Number(process.env.BENCH_PROXY_REQUESTS ?? 20_000);
const MAX_SECONDS = 40;
const FILES = 64;
const FQDN = 'relay.bench.example';
const AUTH = `Basic ${Buffer.from('PlcmSpIp:PlcmSpIp').toString('base64')}`;
const HERE = dirname(fileURLToPath(import.meta.url));
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim() || '100');

interface Result {
  name: string;
  /** The proxy's peak RSS (VmHWM) at the end of its run, MB. */
  peakRssMB?: number;
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  cpuMsPerKreq: number | null;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

/** utime + stime of the processes, in ms. */
function cpuMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return (ticks * 1000) / CLK_TCK;
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // process ended meanwhile
    }
  }
  return out;
}

let phoneSeq = 0;

/**
 * Connects the way HAProxy with send-proxy-v2 does: TCP from the balancer's address, the
 * PROXY v2 header naming a phone (a new 127.20.x.y per connection), then TLS.
 */
function proxyV2Connector(caPem: string, servername: string): buildConnector.connector {
  return (opts, callback) => {
    const n = phoneSeq++;
    const port = Number(opts.port);
    let done = false;
    const finish = (err: Error | null, sock: TLSSocket | null) => {
      if (done) return;
      done = true;
      if (err) callback(err, null);
      else callback(null, sock!);
    };
    const raw = netConnect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' }, () => {
      raw.setNoDelay(true);
      raw.write(
        encodeProxyV2({
          command: 'proxy',
          source: { address: `127.20.${(n >> 8) & 255}.${n & 255 || 1}`, port: 40_000 + (n % 20_000) },
          destination: { address: '127.0.0.1', port },
        }),
      );
      const tls = tlsConnect({ socket: raw, ca: caPem, servername }, () => finish(null, tls));
      tls.once('error', (err) => finish(err, null));
    });
    raw.once('error', (err) => finish(err, null));
  };
}

function poolFor(origin: string, caPem: string, servername: string, proxied: boolean, connections = CONCURRENCY): Pool {
  return new Pool(origin, { connections, pipelining: 1, connect: proxied ? proxyV2Connector(caPem, servername) : { ca: caPem, servername }, keepAliveTimeout: 60_000 });
}

async function load(name: string, origin: string, pathPrefix: string, caPem: string, servername: string, pids: () => number[], proxied = false): Promise<Result> {
  const pool = poolFor(origin, caPem, servername, proxied);
  const lat: number[] = [];
  let next = 0;
  let errors = 0;
  const one = async (record: boolean) => {
    const i = next++;
    const t0 = process.hrtime.bigint();
    try {
      const res = await pool.request({ method: 'GET', path: `${pathPrefix}cfg/${i % FILES}.cfg`, headers: { authorization: AUTH } });
      await res.body.dump({ limit: 1 << 20 });
      if (res.statusCode !== 200) errors++;
    } catch {
      errors++;
    }
    if (record) lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  };
  const run = async (count: number, record: boolean, deadline: number) => {
    const stopAt = next + count;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < stopAt && Date.now() < deadline) await one(record);
      }),
    );
  };
  await run(WARMUP, false, Date.now() + MAX_SECONDS * 1000);
  const cpu0 = pids().length > 0 ? cpuMs(pids()) : 0;
  const t0 = performance.now();
  await run(REQUESTS, true, Date.now() + MAX_SECONDS * 1000);
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = pids().length > 0 ? cpuMs(pids()) : 0;
  await pool.close();
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
  return {
    name,
    requests: lat.length,
    errors,
    seconds,
    rps: lat.length / seconds,
    p50: q(0.5),
    p99: q(0.99),
    cpuMsPerKreq: pids().length > 0 ? ((cpu1 - cpu0) / lat.length) * 1000 : null,
  };
}

async function waitOk(origin: string, path: string, caPem: string, servername: string, what: string, proc?: ChildProcess, proxied = false): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc && proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}`);
    const pool = poolFor(origin, caPem, servername, proxied, 1);
    try {
      const res = await pool.request({ method: 'GET', path, headers: { authorization: AUTH }, headersTimeout: 2_000 });
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not up yet
    } finally {
      await pool.close().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error(`${what} did not answer 200 within 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function ensureNginx(): string | null {
  const which = () => spawnSync('sh', ['-c', 'command -v nginx || ls /usr/sbin/nginx 2>/dev/null'], { encoding: 'utf8' }).stdout.trim().split('\n')[0] || null;
  let bin = which();
  if (bin) return bin;
  console.error('bench:proxy: nginx not found; installing the Debian package (apt-get install -y nginx-light or nginx)…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
  for (const pkg of ['nginx-light', 'nginx']) {
    spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], { stdio: 'ignore', env });
    bin = which();
    if (bin) break;
  }
  // Debian starts the packaged service on :80; this bench runs its own instance only.
  spawnSync('sh', ['-c', 'service nginx stop >/dev/null 2>&1 || systemctl stop nginx >/dev/null 2>&1 || true']);
  return bin;
}

function nginxConf(dir: string, port: number, prov: URL): string {
  return `worker_processes 1;
master_process on;
daemon off;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/ngx-body;
  proxy_temp_path ${dir}/ngx-proxy;
  fastcgi_temp_path ${dir}/ngx-fcgi;
  uwsgi_temp_path ${dir}/ngx-uwsgi;
  scgi_temp_path ${dir}/ngx-scgi;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  large_client_header_buffers 4 16k;
  client_max_body_size 50m;
  upstream provisioning {
    server ${prov.host};
    keepalive 128;
  }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${dir}/relay-chain.pem;
    ssl_certificate_key ${dir}/relay-key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:1m;
    location / {
      proxy_pass https://provisioning${prov.pathname};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host ${prov.host};
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Relay-Id bench;
      proxy_ssl_trusted_certificate ${dir}/ca.pem;
      proxy_ssl_verify on;
      proxy_ssl_name localhost;
      proxy_ssl_server_name on;
      proxy_ssl_session_reuse on;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_cache off;
    }
  }
}
`;
}

function fmt(n: number | null, digits = 1): string {
  return n === null || Number.isNaN(n) ? 'n/a' : n.toFixed(digits);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-proxy-'));
  chmodSync(dir, 0o755);
  const children: ChildProcess[] = [];
  try {
    const origin = spawn(process.execPath, [join(HERE, 'proxy-origin.js'), dir, String(FILES)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(origin);
    const first = await new Promise<string>((res, rej) => {
      createInterface({ input: origin.stdout! }).once('line', res);
      origin.once('exit', (c) => rej(new Error(`origin exited with ${c}`)));
    });
    const { provUrl, dmsUrl } = JSON.parse(first) as { provUrl: string; dmsUrl: string };
    const caPem = readFileSync(join(dir, 'ca.pem'), 'utf8');
    const caKey = forge.pki.privateKeyFromPem(readFileSync(join(dir, 'ca.key'), 'utf8'));
    const ca: KeyedCert = { certPem: caPem, keyPem: '', cert: forge.pki.certificateFromPem(caPem), key: caKey };
    const leaf = issueCert({ cn: FQDN, dnsNames: [FQDN], issuer: ca });
    writeFileSync(join(dir, 'relay.pfx'), toPfx(leaf, [ca], 'bench'));
    writeFileSync(join(dir, 'relay-chain.pem'), leaf.certPem);
    writeFileSync(join(dir, 'relay-key.pem'), leaf.keyPem);
    const prov = new URL(provUrl);

    // Direct to the origin: the ceiling on this machine.
    const direct = await load('direct', prov.origin, prov.pathname, caPem, 'localhost', () => []);

    // The relay: the real daemon as its own process; with BENCH_PROXY_PROTOCOL=1 a second one
    // behind a PROXY v2 "balancer", measured right after the first in the same conditions.
    const runRelay = async (name: string, proxied: boolean): Promise<Result> => {
      const relayPort = await freePort();
      const cfgFile = join(dir, `${name}.json`);
      writeFileSync(
        cfgFile,
        JSON.stringify({
          dmsUrl,
          dmsCaFile: join(dir, 'ca.pem'),
          tenantId: 't-4711',
          pin: '493027',
          fqdn: FQDN,
          dataDir: join(dir, `${name}-data`),
          httpsListen: `127.0.0.1:${relayPort}`,
          adminListen: `127.0.0.1:${await freePort()}`,
          openstage: { dlsListen: '127.0.0.1:0' },
          logLevel: 'info',
          pfxFile: join(dir, 'relay.pfx'),
          pfxPassphrase: 'bench',
          ...(proxied ? { lb: { proxyProtocol: true, trustedProxies: ['127.0.0.1/32'], drainDelaySeconds: 0 } } : {}),
        }),
      );
      const cli = resolve(HERE, '../src/cli.js');
      const relay = spawn(process.execPath, [...(process.env.BENCH_RELAY_NODE_ARGS?.split(' ').filter(Boolean) ?? []), cli, 'start', '--config', cfgFile], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: relayEnv(),
      });
      children.push(relay);
      const relayOrigin = `https://127.0.0.1:${relayPort}`;
      await waitOk(relayOrigin, '/cfg/0.cfg', caPem, FQDN, name, relay, proxied);
      const res = await load(name, relayOrigin, '/', caPem, FQDN, () => [relay.pid!], proxied);
      res.peakRssMB = peakRssMB(relay.pid!);
      relay.kill('SIGTERM');
      return res;
    };
    const relayRes = await runRelay('relay', false);
    const relayPpRes = PROXY_PROTOCOL ? await runRelay('relay-pp', true) : null;

    // nginx, same certificate, equivalent proxy_pass with upstream keep-alive.
    let nginxRes: Result | null = null;
    const nginxBin = ensureNginx();
    if (nginxBin) {
      const port = await freePort();
      writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, port, prov));
      execFileSync(nginxBin, ['-t', '-q', '-c', join(dir, 'nginx.conf')], { stdio: 'inherit' });
      const ngx = spawn(nginxBin, ['-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'inherit'] });
      children.push(ngx);
      const nginxOrigin = `https://127.0.0.1:${port}`;
      await waitOk(nginxOrigin, '/cfg/0.cfg', caPem, FQDN, 'nginx', ngx);
      nginxRes = await load('nginx', nginxOrigin, '/', caPem, FQDN, () => [ngx.pid!, ...childrenOf(ngx.pid!)]);
      ngx.kill('SIGQUIT');
    } else {
      console.error('bench:proxy: nginx unavailable (apt-get failed); its row is empty');
    }

    const rows = [direct, relayRes, ...(relayPpRes ? [relayPpRes] : []), ...(nginxRes ? [nginxRes] : [])];
    console.log(`\nbench:proxy — GET 2–20 KB configs, Basic auth, keep-alive, concurrency ${CONCURRENCY}, ${REQUESTS} requests after ${WARMUP} warm-up (nginx: 1 worker)\n`);
    console.log(
      `${'target'.padEnd(8)} ${'requests'.padStart(9)} ${'errors'.padStart(7)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'proxy CPU ms/1k req'.padStart(20)}`,
    );
    for (const r of rows) {
      console.log(
        `${r.name.padEnd(8)} ${String(r.requests).padStart(9)} ${String(r.errors).padStart(7)} ${fmt(r.rps, 0).padStart(9)} ${fmt(r.p50, 2).padStart(8)} ${fmt(r.p99, 2).padStart(8)} ${fmt(r.cpuMsPerKreq).padStart(20)}`,
      );
    }
    const round = (n: number | null | undefined, d = 1) => (n === null || n === undefined || Number.isNaN(n) ? null : Number(n.toFixed(d)));
    console.log(
      JSON.stringify({
        bench: 'proxy',
        relayRps: round(relayRes.rps, 0),
        nginxRps: round(nginxRes?.rps, 0),
        directRps: round(direct.rps, 0),
        relayCpuMsPerKreq: round(relayRes.cpuMsPerKreq),
        nginxCpuMsPerKreq: round(nginxRes?.cpuMsPerKreq),
        relayP99Ms: round(relayRes.p99, 2),
        nginxP99Ms: round(nginxRes?.p99, 2),
        relayPeakRssMB: relayRes.peakRssMB ?? null,
        ...goalFields([
          { name: 'cpuRatio', value: nginxRes?.cpuMsPerKreq ? (relayRes.cpuMsPerKreq ?? NaN) / nginxRes.cpuMsPerKreq : null, atMost: 1.3 },
          { name: 'p99OverNginxMs', value: nginxRes ? relayRes.p99 - nginxRes.p99 : null, atMost: 2 },
        ]),
        nodeOptions: shippedNodeOptions(),
        ...(relayPpRes
          ? { relayPpRps: round(relayPpRes.rps, 0), relayPpCpuMsPerKreq: round(relayPpRes.cpuMsPerKreq), relayPpP99Ms: round(relayPpRes.p99, 2), relayPpErrors: relayPpRes.errors }
          : {}),
      }),
    );
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench:proxy failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exitCode = 1;
});
