import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { startDmsSimulator } from '../sim/dms/index.js';
import { DmsImages } from '../sim/dms/images.js';
import { DmsFiles } from '../sim/dms/files.js';
import { startProvisioningSimulator } from '../sim/provisioning/index.js';
import { DEFAULT_ACCOUNT, masterConfig } from '../sim/provisioning/files.js';
import { issueCert, toPfx } from '../sim/pki.js';
import type { PhoneRecord } from '../sim/phone/worker.js';
import { ask } from './device-bench.js';
import { relayEnv } from './goals.js';
import { lowerEnvelope, pooledFit, type Sampled } from './soak-slopes.js';

/**
 * npm run soak [-- --minutes N] (default 20): hours of mixed work squeezed into N minutes, to
 * show that nothing is lost, nothing runs twice and nothing leaks.
 *
 * The relay runs as its own process (killed with SIGKILL and restarted on the same data
 * directory every few minutes). Around it, on loopback: the DMS simulator, a provisioning
 * server, a few thousand simulated Polycom phones (127.20.x.y, in worker processes) polled
 * every 120 s (and a few hundred OpenStage phones), a task every few seconds cycling through the command kinds, phones-as-clients
 * downloading firmware and provisioning files through the relay's phone port (every body
 * checked), and disruptions on a schedule: control-channel drops, a half-open control
 * connection, a DMS outage, phones unplugged for a while.
 *
 * At the end, from the simulators' own records: every task has exactly one result per device,
 * every DMS frame was acked, no non-repeatable command ran twice on a phone, every downloaded
 * body matched. Every 10 s: the relay's heap, SQLite size and event-loop delay p99 (its
 * /metrics); every 2 s: its RSS and its open fds by kind (sockets, files, pipes, anon inodes),
 * read from /proc.
 *
 * How the slopes are computed, and why (the estimator itself is in soak-slopes.ts):
 * - Lives: each relay process is one life. A kill -9 gives back all of its memory and fds, so
 *   one line across lives would measure the restarts. The fit is pooled over the lives with an
 *   intercept of their own (how fast each life's floor rises, weighted by how long it ran).
 * - Warm-up: the first 3 minutes of every life are left out. In the 20-minute series RSS climbs
 *   for ~100-120 s after a start (module loading, the first poll of every phone, device maps,
 *   SQLite's page cache, V8 growing its old space) until the first major GC drops it by
 *   ~30-50 MB, then it settles within another minute.
 * - Lower envelope: RSS and fds are fitted on their per-minute minima, not on every sample.
 *   RSS is a GC sawtooth (teeth of ~20-40 MB) and each download or poll holds a socket for a
 *   moment; a leak raises the floor under both, which the minima follow and the teeth do not.
 * - Kills: `--kills N` (default 2) kill -9s, every 4 minutes from the start, then the relay
 *   lives to the end: the kills prove nothing is lost across a crash, the long last life gives
 *   the slope its length. Each slope is printed with its standard error.
 * - Only the loaded part counts: samples after the load stops (the drain) are not fitted.
 *
 * Output: the sample series as CSV and a markdown table (paths printed), then one JSON line.
 * Bounded: phones, tasks and downloads are fixed counts and rates; the whole run has a hard limit.
 */

const here = dirname(fileURLToPath(import.meta.url));
const SRC = join(here, '..', 'src');
const FQDN = 'relay.soak.example';
const MB = 1024 * 1024;

/** A numeric flag; a value given but out of range stops the run instead of being replaced silently. */
function arg(name: string, fallback: number, min = Number.MIN_VALUE): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < min) throw new Error(`--${name} needs a number ≥ ${min === Number.MIN_VALUE ? 'just above 0' : min}, got ${process.argv[i + 1] ?? 'nothing'}`);
  return v;
}

const MINUTES = arg('minutes', 20);
const PHONES = Math.round(arg('phones', 2_000));
const OS_PHONES = Math.round(arg('openstage-phones', 200));
const TASK_EVERY_MS = arg('task-every', 3) * 1000;
const TARGETS_PER_TASK = 10;
const SAMPLE_MS = 10_000;
/** RSS and fds: read from /proc this often, so each minute has enough samples for its minimum. */
const FAST_SAMPLE_MS = 2_000;
const T_MS = MINUTES * 60_000;
const KILLS = Math.round(arg('kills', 2, 0));
const KILL_EVERY_MS = Math.min(4 * 60_000, T_MS / (KILLS + 1));
/** After each (re)start, samples this close to it are warm-up of that life (see the header). */
const RUN_WARMUP_MS = Math.min(3 * 60_000, T_MS / 4);
const GOAL_RSS_MB_PER_HOUR = 5;
const GOAL_FDS_PER_HOUR = 10;
const OUTAGE_MS = Math.min(60_000, T_MS / 8);
const DRAIN_MS = 120_000;
const HARD_LIMIT_MS = T_MS + DRAIN_MS + 5 * 60_000;

/**
 * The command kinds and their arguments. Each kind gets its own phones so kinds do not
 * interfere (a call in progress holds back a reboot, on purpose). The Polycom phones boot through
 * the relay (master config and image from its phone port), so updateFirmware really upgrades
 * them. OpenStage phones take status, getParams, setParams, updateFirmware and deployFile
 * (deployFile is an OpenStage command; Polycom phones take their files from provisioning).
 */
type Kind = { kind: string; args: (n: number) => Record<string, unknown>; group: string; repeatable: boolean };
const OS_FIRMWARE = { imageId: 'os-fw', version: 'V3R5.16.0', path: '/firmware/openstage/opera_bootimage_v3r5.16.0.img', size: 256 * 1024 };
const OS_LOGO = { imageId: 'os-logo', path: '/firmware/openstage/logo.png', size: 8 * 1024 };
const KINDS: Kind[] = [
  { kind: 'status', args: () => ({}), group: 'misc', repeatable: true },
  { kind: 'getParams', args: () => ({ names: ['device.sntp.serverName'] }), group: 'misc', repeatable: true },
  { kind: 'setParams', args: (n) => ({ values: { 'device.sntp.serverName': `ntp${n}.soak.example` } }), group: 'misc', repeatable: true },
  { kind: 'reboot', args: () => ({}), group: 'reboot', repeatable: false },
  { kind: 'getConfig', args: () => ({ source: 'all' }), group: 'misc', repeatable: true },
  { kind: 'dial', args: (n) => ({ to: `soak-${n}` }), group: 'dial', repeatable: false },
  { kind: 'checkSync', args: () => ({}), group: 'misc', repeatable: true },
  { kind: 'screenCapture', args: () => ({}), group: 'capture', repeatable: true },
  { kind: 'reset', args: () => ({ scope: 'web' }), group: 'reset', repeatable: false },
  { kind: 'adPassword', args: (n) => ({ password: `ad-${n}` }), group: 'misc', repeatable: true },
  { kind: 'pcapStart', args: () => ({ maxMb: 1, maxMinutes: 1 }), group: 'pcap', repeatable: false },
  { kind: 'pcapStop', args: () => ({}), group: 'pcap', repeatable: true },
  { kind: 'pcapCancel', args: () => ({}), group: 'pcap', repeatable: true },
  { kind: 'status', args: () => ({}), group: 'down', repeatable: true },
  { kind: 'updateFirmware', args: () => ({ imageId: 'vvx-a' }), group: 'fw', repeatable: true },
  { kind: 'status', args: () => ({}), group: 'os-misc', repeatable: true },
  { kind: 'getParams', args: () => ({ names: ['e164', 'display-id'] }), group: 'os-misc', repeatable: true },
  { kind: 'setParams', args: (n) => ({ values: { 'display-id': `soak ${n}` } }), group: 'os-misc', repeatable: true },
  { kind: 'updateFirmware', args: () => ({ imageId: OS_FIRMWARE.imageId }), group: 'os-deploy', repeatable: true },
  { kind: 'deployFile', args: () => ({ imageId: OS_LOGO.imageId, fileType: 'logo' }), group: 'os-deploy', repeatable: true },
];
/** Share of the phones each group gets; the rest are only polled. */
const GROUPS: Record<string, number> = { misc: 0.3, reboot: 0.05, dial: 0.05, capture: 0.05, reset: 0.05, pcap: 0.05, down: 0.1, fw: 0.05 };
/** OpenStage phones (their own worker), split between plain reads/writes and deployments. */
const OS_GROUPS: Record<string, number> = { 'os-misc': 0.5, 'os-deploy': 0.5 };

interface Target {
  deviceId: string;
  mac: string;
  ip: string;
  port: number;
  vendor: 'polycom' | 'openstage';
  model: string;
  credentials: { user: string; password: string };
}

interface Worker {
  proc: ChildProcess;
  phones: { ip: string; port: number; mac: string; model: string; password: string }[];
  first: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function percentile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] as number;
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

interface Sample {
  t: number;
  run: number;
  pid: number;
  rssMB: number;
  heapMB: number;
  fds: number;
  sqliteMB: number;
  loopP99Ms: number;
  outbox: number;
}

/** Open fds by what they are: a leak of sockets (a pool, a peer never closed) and one of files read differently. */
interface FdKinds {
  socket: number;
  file: number;
  pipe: number;
  anon: number;
  other: number;
}
interface FastSample {
  t: number;
  run: number;
  rssMB: number;
  fds: number;
  kinds: FdKinds;
}

function fdKinds(pid: number): FdKinds {
  const k: FdKinds = { socket: 0, file: 0, pipe: 0, anon: 0, other: 0 };
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed between the listing and the read
    }
    if (target.startsWith('socket:')) k.socket++;
    else if (target.startsWith('pipe:')) k.pipe++;
    else if (target.startsWith('anon_inode:')) k.anon++;
    else if (target.startsWith('/')) k.file++;
    else k.other++;
  }
  return k;
}

/** Which files the relay holds open, by name (cache files collapsed), for the report when file fds grow. */
function openFiles(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (!target.startsWith('/')) continue;
        const name = target.replace(/^.*\/data\//, 'data/').replace(/[0-9a-f]{16,}/g, '<hash>');
        out[name] = (out[name] ?? 0) + 1;
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // gone
  }
  return out;
}

async function main(): Promise<void> {
  const guard = setTimeout(() => {
    console.error(`soak: hard time limit (${Math.round(HARD_LIMIT_MS / 60_000)} min) reached`);
    process.exit(1);
  }, HARD_LIMIT_MS);
  guard.unref();
  const t0 = Date.now();
  const since = () => Date.now() - t0;
  const say = (s: string) => console.log(`[soak ${(since() / 1000).toFixed(0).padStart(5)} s] ${s}`);
  const dir = mkdtempSync(join(tmpdir(), 'cr-soak-'));
  const outDir = join(process.cwd(), 'soak-results');
  mkdirSync(outDir, { recursive: true });

  // --- the world around the relay
  const sim = await startDmsSimulator();
  const prov = await startProvisioningSimulator({ ca: sim.ca });
  sim.provisioningUrl = prov.url;
  const images = new DmsImages({
    images: [
      { imageId: 'vvx-a', size: 4 * MB, path: '/swupdate/vvx-a/sip.ld', version: '6.4.1' },
      { imageId: 'vvx-b', size: 6 * MB, path: '/swupdate/vvx-b/sip.ld', version: '6.4.2' },
      { imageId: 'logo', size: 64 * 1024, path: '/files/logo.bmp' },
      OS_FIRMWARE,
      OS_LOGO,
    ],
  });
  // Polycom phones that reboot boot through the relay: this master config names the image the
  // relay caches, so a reboot or an updateFirmware really installs vvx-a.
  prov.setFile('000000000000.cfg', masterConfig('swupdate/vvx-a/sip.ld', ['site.cfg', '[PHONE_MAC_ADDRESS]-ext.cfg']));
  sim.addRoutes(images.routes);
  sim.addRoutes(new DmsFiles().routes());
  const leaf = issueCert({ cn: FQDN, dnsNames: [FQDN], issuer: sim.ca });
  writeFileSync(join(dir, 'relay.pfx'), toPfx(leaf, [sim.ca], 'soak-pass'));
  writeFileSync(join(dir, 'dms-ca.pem'), sim.caPem);
  const httpsPort = await freePort();
  const adminPort = await freePort();
  const dataDir = join(dir, 'data');
  writeFileSync(
    join(dir, 'relay.json'),
    JSON.stringify({
      dmsUrl: sim.url,
      dmsCaFile: join(dir, 'dms-ca.pem'),
      tenantId: 't-4711',
      pin: '493027',
      fqdn: FQDN,
      dataDir,
      pfxFile: join(dir, 'relay.pfx'),
      pfxPassphrase: 'soak-pass',
      httpsListen: `127.0.0.1:${httpsPort}`,
      adminListen: `127.0.0.1:${adminPort}`,
      openstage: { dlsListen: '127.0.0.1:0' },
      logLevel: 'warn',
      shutdownGraceSeconds: 5,
      // 120 s, not 60: an OpenStage phone takes one contact-me a minute, and a 60 s poll would
      // take every minute of every OpenStage phone, leaving none for the tasks.
      devices: { pollIntervalSeconds: 120, concurrency: 64 },
    }),
  );

  say(`starting ${PHONES} simulated phones on 127.20.x.y …`);
  const perWorker = Math.ceil(PHONES / Math.max(1, Math.ceil(PHONES / 2_500)));
  const workers: Worker[] = [];
  for (let first = 0; first < PHONES; first += perWorker) {
    const count = Math.min(perWorker, PHONES - first);
    const proc = fork(join(here, '..', 'sim', 'phone', 'worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const phones = await ask(
      proc,
      {
        start: {
          count,
          firstIndex: 30_000 + first,
          faults: { delayMs: 20 },
          hosts: { [FQDN]: '127.0.0.1' },
          timing: { rebootOfflineMs: 2_000, callStepMs: 50, answerMs: 100 },
          provisioning: { relayUrl: `https://127.0.0.1:${httpsPort}`, servername: FQDN, ca: sim.caPem, account: DEFAULT_ACCOUNT },
        },
      },
      (m) => (m.ready ? (m.phones as Worker['phones']) : undefined),
    );
    workers.push({ proc, phones, first });
  }
  const targets: Target[] = workers.flatMap((w) =>
    w.phones.map((p) => ({
      deviceId: `dev-${p.mac}`,
      mac: p.mac,
      ip: p.ip,
      port: p.port,
      vendor: 'polycom' as const,
      model: p.model,
      credentials: { user: 'Polycom', password: p.password },
    })),
  );
  say(`starting ${OS_PHONES} simulated OpenStage phones …`);
  const osWorker = fork(join(here, '..', 'sim', 'openstage', 'worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const osPhones = await ask(osWorker, { start: { count: OS_PHONES, firstIndex: 0, hosts: { [FQDN]: '127.0.0.1' } } }, (m) =>
    m.ready ? (m.phones as { ip: string; port: number; mac: string }[]) : undefined,
  );
  const osTargets: Target[] = osPhones.map((p) => ({
    deviceId: `dev-os-${p.mac.replace(/:/g, '')}`,
    mac: p.mac.replace(/:/g, ''),
    ip: p.ip,
    port: p.port,
    vendor: 'openstage' as const,
    model: 'OpenStage 60',
    credentials: { user: 'admin', password: 'unused' },
  }));
  const groups = new Map<string, Target[]>();
  const split = (all: Target[], shares: Record<string, number>) => {
    let at = 0;
    for (const [g, share] of Object.entries(shares)) {
      const n = Math.max(TARGETS_PER_TASK, Math.floor(all.length * share));
      groups.set(g, all.slice(at, at + n));
      at += n;
    }
  };
  split(targets, GROUPS);
  split(osTargets, OS_GROUPS);

  // --- the relay process, killed and restarted on the same data dir
  const logFile = join(outDir, 'relay-soak.log');
  const logFd = openSync(logFile, 'w');
  let relay: ChildProcess | undefined;
  let run = 0;
  const env: Record<string, string> = {};
  // The relay as installed (the unit's NODE_OPTIONS), without this shell's CLOUD_RELAY_ settings.
  for (const [k, v] of Object.entries(relayEnv())) if (v !== undefined && !k.startsWith('CLOUD_RELAY_')) env[k] = v;
  const lifeStart = new Map<number, number>();
  const startRelay = async (): Promise<string> => {
    run++;
    lifeStart.set(run, since());
    relay = spawn(process.execPath, [join(SRC, 'cli.js'), 'start', '--config', join(dir, 'relay.json')], { env, stdio: ['ignore', logFd, logFd] });
    // A restart that falls into the DMS outage connects only once the outage is over.
    const deadline = Date.now() + 60_000 + OUTAGE_MS;
    for (;;) {
      const id = sim.relays().find((r) => r.connected)?.relayId;
      if (id) return id;
      if (Date.now() > deadline) throw new Error(`relay did not connect to the DMS simulator within ${(60_000 + OUTAGE_MS) / 1000} s`);
      if (relay.exitCode !== null) throw new Error(`relay exited with ${relay.exitCode}; see ${logFile}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const relayId = await startRelay();
  say(`relay ${relayId} connected (run 1, pid ${relay?.pid})`);

  // --- what we expect and what we saw
  const expected = new Map<string, Set<string>>(); // taskId -> deviceIds
  const taskKind = new Map<string, Kind>();
  const frames: string[] = [];
  const resultCount = new Map<string, number>(); // `${taskId} ${deviceId}` -> results
  const outcomes: Record<string, number> = {};
  const failureReasons = new Map<string, number>();
  const submittedOn = new Map<string, Map<string, number>>(); // kind -> ip -> tasks
  const dialDest = new Map<string, string>(); // taskId -> dial destination
  sim.events.on('frame', (e: { relayId: string; frame: Record<string, unknown> }) => {
    if (e.frame.type !== 'task.result') return;
    const key = `${String(e.frame.taskId)} ${String(e.frame.deviceId)}`;
    resultCount.set(key, (resultCount.get(key) ?? 0) + 1);
    const o = String(e.frame.outcome);
    outcomes[o] = (outcomes[o] ?? 0) + 1;
    if (o !== 'success') {
      const r = `${taskKind.get(String(e.frame.taskId))?.kind}: ${String(e.frame.reason ?? '')
        .replace(/\d+\.\d+\.\d+\.\d+(:\d+)?/g, '<ip>')
        .slice(0, 120)}`;
      failureReasons.set(r, (failureReasons.get(r) ?? 0) + 1);
    }
  });

  // Every phone known (and so polled) from the start: one status task over all of them.
  for (let i = 0; i < targets.length; i += 500) submit(KINDS[0] as Kind, targets.slice(i, i + 500));
  for (let i = 0; i < osTargets.length; i += 500) submit(KINDS[0] as Kind, osTargets.slice(i, i + 500));

  function submit(k: Kind, ts: Target[]): void {
    const n = expected.size + 1;
    const args = k.args(n);
    const { taskId, frameId } = sim.submitTask(relayId, { command: { kind: k.kind, args }, targets: ts as unknown as Record<string, unknown>[] });
    expected.set(taskId, new Set(ts.map((t) => t.deviceId)));
    taskKind.set(taskId, k);
    frames.push(frameId);
    if (k.kind === 'dial') dialDest.set(taskId, String(args.to));
    const byIp = submittedOn.get(k.kind) ?? new Map<string, number>();
    for (const t of ts) byIp.set(t.ip, (byIp.get(t.ip) ?? 0) + 1);
    submittedOn.set(k.kind, byIp);
  }

  // --- load: tasks
  let kindAt = 0;
  const cursor = new Map<string, number>();
  const taskTimer = setInterval(() => {
    const k = KINDS[kindAt++ % KINDS.length] as Kind;
    const pool = groups.get(k.group) ?? [];
    const c = cursor.get(k.group) ?? 0;
    const ts = Array.from({ length: TARGETS_PER_TASK }, (_, i) => pool[(c + i) % pool.length] as Target);
    cursor.set(k.group, c + TARGETS_PER_TASK);
    submit(k, ts);
  }, TASK_EVERY_MS);

  // --- load: phones downloading firmware and provisioning files through the relay
  const dl = { ok: 0, bytes: 0, badBody: 0, interrupted: 0, statuses: {} as Record<string, number> };
  const auth = `Basic ${Buffer.from('PlcmSpIp:PlcmSpIp').toString('base64')}`;
  const provFiles = ['site.cfg', '000000000000.cfg', `${workers[0]?.phones[0]?.mac ?? '000000000000'}.cfg`];
  let downloading = true;
  const clientAt = (i: number) => new Agent({ connect: { ca: sim.caPem, servername: FQDN, localAddress: `127.20.250.${(i % 200) + 1}` }, connections: 2, keepAliveTimeout: 4_000 });
  const clients = Array.from({ length: 4 }, (_, i) => clientAt(i));
  const downloader = async (i: number): Promise<void> => {
    let n = 0;
    while (downloading) {
      n++;
      const fw = n % 3 !== 0;
      const path = fw ? (n % 2 === 0 ? '/swupdate/vvx-a/sip.ld' : '/swupdate/vvx-b/sip.ld') : `/${provFiles[n % provFiles.length]}`;
      const want = fw ? images.sha256(path.includes('vvx-a') ? 'vvx-a' : 'vvx-b') : sha(prov.files.get(path.slice(1)) ?? Buffer.alloc(0));
      try {
        const res = await request(`https://127.0.0.1:${httpsPort}${path}`, {
          dispatcher: clients[i] as Agent,
          headers: { authorization: auth },
          headersTimeout: 30_000,
          bodyTimeout: 30_000,
        });
        const body = Buffer.from(await res.body.arrayBuffer());
        dl.statuses[res.statusCode] = (dl.statuses[res.statusCode] ?? 0) + 1;
        if (res.statusCode === 200) {
          if (sha(body) === want) {
            dl.ok++;
            dl.bytes += body.length;
          } else dl.badBody++;
        }
      } catch {
        // The relay was killed under it, or the port is restarting: not a wrong body.
        dl.interrupted++;
      }
      await new Promise((r) => setTimeout(r, fw ? 2_000 : 500));
    }
  };
  const downloaders = clients.map((_, i) => downloader(i));

  // --- disruptions
  const events: string[] = [];
  const note = (s: string) => {
    events.push(`${(since() / 1000).toFixed(0)} s: ${s}`);
    say(s);
  };
  let disruptions = 0;
  const dropTimer = setInterval(() => {
    disruptions++;
    if (disruptions % 2 === 0) {
      sim.goSilent(relayId);
      note('control channel half-open (DMS goes silent)');
    } else {
      sim.disconnect(relayId, 1001, 'soak: drop');
      note('control channel dropped');
    }
  }, 90_000);
  const outageTimer = setTimeout(() => {
    sim.setFaults({ refuseUpgradesForMs: OUTAGE_MS, heartbeat: { status: 503, times: 1_000_000 } });
    sim.disconnect(relayId, 1001, 'soak: outage');
    note(`DMS outage for ${OUTAGE_MS / 1000} s (control upgrades and heartbeats answered 503)`);
    setTimeout(() => {
      sim.setFaults({ heartbeat: { status: 0 } });
      note('DMS back');
    }, OUTAGE_MS).unref();
  }, T_MS * 0.5);
  const downPool = groups.get('down') ?? [];
  const downTimer = setInterval(() => {
    const chosen = new Set(downPool.slice(0, Math.ceil(downPool.length / 2)).map((t) => t.ip));
    void Promise.all(
      workers.map((w) =>
        ask(w.proc, { down: { indices: w.phones.map((p, i) => (chosen.has(p.ip) ? i : -1)).filter((i) => i >= 0), ms: 45_000 } }, (m) =>
          typeof m.down === 'number' ? m.down : undefined,
        ),
      ),
    ).then((ns) => note(`${ns.reduce((a, b) => a + b, 0)} phones unplugged for 45 s`));
  }, 120_000);
  let kills = 0;
  let killing = Promise.resolve();
  const killTimer = setInterval(() => {
    if (kills >= KILLS) return;
    killing = (async () => {
      const old = relay;
      if (!old) return;
      await new Promise<void>((r) => {
        old.once('exit', () => r());
        old.kill('SIGKILL');
      });
      kills++;
      note(`relay killed with SIGKILL (kill ${kills}); restarting`);
      await startRelay();
      note(`relay back (run ${run}, pid ${relay?.pid})`);
    })();
  }, KILL_EVERY_MS);

  // --- sampling
  const samples: Sample[] = [];
  const sampleOnce = async (): Promise<void> => {
    const pid = relay?.pid;
    if (!pid || relay?.exitCode !== null) return;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const rssKb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
      const fds = readdirSync(`/proc/${pid}/fd`).length;
      const sqlite = ['relay.db', 'relay.db-wal', 'relay.db-shm'].reduce((a, f) => {
        try {
          return a + statSync(join(dataDir, f)).size;
        } catch {
          return a;
        }
      }, 0);
      const res = await request(`http://127.0.0.1:${adminPort}/metrics`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
      const text = await res.body.text();
      const st = await request(`http://127.0.0.1:${adminPort}/status`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
      const doc = (await st.body.json()) as { managementAgent?: { outboxDepth?: number } };
      samples.push({
        t: since(),
        run,
        pid,
        rssMB: rssKb / 1024,
        heapMB: metric(text, 'cloud_relay_nodejs_heap_size_used_bytes') / MB,
        fds,
        sqliteMB: sqlite / MB,
        loopP99Ms: metric(text, 'cloud_relay_nodejs_eventloop_lag_p99_seconds') * 1000,
        outbox: Number(doc.managementAgent?.outboxDepth ?? NaN),
      });
    } catch {
      // The relay is restarting: no sample this time.
    }
  };
  const sampleTimer = setInterval(() => void sampleOnce(), SAMPLE_MS);
  const fast: FastSample[] = [];
  /** What the relay holds open once a life is warm, and when the load stops (by life). */
  const filesAt = new Map<number, { warm?: Record<string, number>; end?: Record<string, number> }>();
  const fastOnce = (): void => {
    const pid = relay?.pid;
    if (!pid || relay?.exitCode !== null) return;
    try {
      const rssKb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
      const kinds = fdKinds(pid);
      const t = since();
      fast.push({ t, run, rssMB: rssKb / 1024, fds: kinds.socket + kinds.file + kinds.pipe + kinds.anon + kinds.other, kinds });
      const f = filesAt.get(run) ?? {};
      if (!f.warm && t - (lifeStart.get(run) ?? 0) >= RUN_WARMUP_MS) f.warm = openFiles(pid);
      filesAt.set(run, f);
    } catch {
      // The relay is restarting.
    }
  };
  const fastTimer = setInterval(fastOnce, FAST_SAMPLE_MS);

  await new Promise((r) => setTimeout(r, T_MS));
  if (relay?.pid) filesAt.set(run, { ...filesAt.get(run), end: openFiles(relay.pid) });
  clearInterval(taskTimer);
  clearInterval(dropTimer);
  clearInterval(downTimer);
  clearInterval(killTimer);
  clearTimeout(outageTimer);
  await killing;
  sim.setFaults({ heartbeat: { status: 0 }, refuseUpgradesForMs: 0 });
  downloading = false;
  await Promise.all(downloaders);
  say(`load stopped: ${expected.size} tasks submitted; waiting up to ${DRAIN_MS / 1000} s for every result …`);

  const missing = (): number => {
    let n = 0;
    for (const [taskId, devices] of expected) for (const d of devices) if (!resultCount.has(`${taskId} ${d}`)) n++;
    return n;
  };
  const drainDeadline = Date.now() + DRAIN_MS;
  while (missing() > 0 && Date.now() < drainDeadline) await new Promise((r) => setTimeout(r, 1_000));
  // A last moment for a result still in flight to arrive twice (that would be a duplicate).
  await new Promise((r) => setTimeout(r, 3_000));
  await sampleOnce();
  clearInterval(sampleTimer);
  clearInterval(fastTimer);

  // --- checks from the simulators' records
  const lostResults = missing();
  const lostByKind: Record<string, number> = {};
  for (const [taskId, devices] of expected)
    for (const d of devices)
      if (!resultCount.has(`${taskId} ${d}`)) {
        const k = taskKind.get(taskId)?.kind ?? '?';
        lostByKind[k] = (lostByKind[k] ?? 0) + 1;
      }
  let duplicateResults = 0;
  for (const c of resultCount.values()) if (c > 1) duplicateResults += c - 1;
  const unanswered = frames.filter((f) => sim.answer(relayId, f) !== 'ack');
  const records = (await Promise.all(workers.map((w) => ask(w.proc, { records: true }, (m) => (Array.isArray(m.records) ? (m.records as PhoneRecord[]) : undefined))))).flat();
  let duplicateRuns = 0;
  const dupDetail: string[] = [];
  for (const r of records) {
    // updateFirmware reboots a Polycom phone once to install (never when it is already current).
    const reboots = (submittedOn.get('reboot')?.get(r.ip) ?? 0) + (submittedOn.get('updateFirmware')?.get(r.ip) ?? 0);
    const resets = submittedOn.get('reset')?.get(r.ip) ?? 0;
    // A reset of the web settings does not reboot a simulated phone; only reboot tasks do.
    if (r.reboots > reboots) {
      duplicateRuns += r.reboots - reboots;
      dupDetail.push(`${r.ip}: ${r.reboots} reboots for ${reboots} reboot and updateFirmware tasks`);
    }
    if (r.resets > resets) {
      duplicateRuns += r.resets - resets;
      dupDetail.push(`${r.ip}: ${r.resets} resets for ${resets} reset tasks`);
    }
    for (const [dest, n] of Object.entries(r.dials)) {
      if (n > 1) {
        duplicateRuns += n - 1;
        dupDetail.push(`${r.ip}: dialled ${dest} ${n} times`);
      }
    }
  }
  const outboxLeft = samples.at(-1)?.outbox ?? NaN;

  // --- series, slopes (how and why: the header of this file, and soak-slopes.ts)
  const envelope = (series: Sampled[], minSamples: number) => lowerEnvelope(series, lifeStart, { warmupMs: RUN_WARMUP_MS, untilMs: T_MS, minSamples });
  const fastOf = (pick: (f: FastSample) => number): Sampled[] => fast.map((f) => ({ life: f.run, t: f.t, y: pick(f) }));
  // Whole minutes only: at least 2/3 of the minute's 2-s (or 10-s) samples.
  const perMinFast = Math.floor((60_000 / FAST_SAMPLE_MS) * (2 / 3));
  const perMinSlow = Math.floor((60_000 / SAMPLE_MS) * (2 / 3));
  const rssFit = pooledFit(
    envelope(
      fastOf((f) => f.rssMB),
      perMinFast,
    ),
  );
  const fdFit = pooledFit(
    envelope(
      fastOf((f) => f.fds),
      perMinFast,
    ),
  );
  const socketFit = pooledFit(
    envelope(
      fastOf((f) => f.kinds.socket),
      perMinFast,
    ),
  );
  const fileFit = pooledFit(
    envelope(
      fastOf((f) => f.kinds.file),
      perMinFast,
    ),
  );
  const heapFit = pooledFit(
    envelope(
      samples.map((x) => ({ life: x.run, t: x.t, y: x.heapMB })),
      perMinSlow,
    ),
  );
  // The database outlives the process: one line through every loaded sample, across lives.
  const sqliteFit = pooledFit(samples.filter((x) => x.t <= T_MS).map((x) => ({ life: 0, x: x.t / 3_600_000, y: x.sqliteMB })));
  const round = (v: number, d = 1) => (Number.isFinite(v) ? Number(v.toFixed(d)) : null);
  const loaded = samples.filter((x) => x.t >= Math.min(3 * 60_000, T_MS / 4) && x.t <= T_MS);

  // The per-minute table: every minute of every life (minutes counted from the life's start, as
  // the fit counts them), with what the fit saw.
  interface Minute {
    start: number;
    life: number;
    age: number;
    fitted: boolean;
    rssMin: number;
    rssMax: number;
    fdsMin: number;
    sockets: number;
    files: number;
    heapMin: number;
    loopP99: number;
  }
  const minutes: Minute[] = [];
  const byMinute = new Map<string, FastSample[]>();
  for (const f of fast) {
    const key = `${f.run} ${Math.floor((f.t - (lifeStart.get(f.run) ?? 0)) / 60_000)}`;
    byMinute.set(key, [...(byMinute.get(key) ?? []), f]);
  }
  for (const [key, fs] of byMinute) {
    const [life, age] = key.split(' ').map(Number) as [number, number];
    const start = (lifeStart.get(life) ?? 0) + age * 60_000;
    const slow = samples.filter((x) => x.run === life && x.t >= start && x.t < start + 60_000);
    const lowFd = fs.reduce((m, f) => (f.fds < m.fds ? f : m));
    minutes.push({
      start,
      life,
      age,
      fitted: age * 60_000 >= RUN_WARMUP_MS && start + 60_000 <= T_MS && fs.length >= perMinFast,
      rssMin: Math.min(...fs.map((f) => f.rssMB)),
      rssMax: Math.max(...fs.map((f) => f.rssMB)),
      fdsMin: lowFd.fds,
      sockets: lowFd.kinds.socket,
      files: lowFd.kinds.file,
      heapMin: slow.length ? Math.min(...slow.map((x) => x.heapMB)) : NaN,
      loopP99: slow.length ? Math.max(...slow.map((x) => x.loopP99Ms)) : NaN,
    });
  }
  minutes.sort((x, y) => x.start - y.start);

  const stamp = new Date(t0).toISOString().replace(/[:.]/g, '-');
  const csv = [
    't_s,run,pid,rss_mb,heap_mb,fds,sqlite_mb,loop_p99_ms,outbox',
    ...samples.map((x) =>
      [Math.round(x.t / 1000), x.run, x.pid, x.rssMB.toFixed(1), x.heapMB.toFixed(1), x.fds, x.sqliteMB.toFixed(2), x.loopP99Ms.toFixed(1), x.outbox].join(','),
    ),
  ];
  writeFileSync(join(outDir, `soak-${stamp}.csv`), csv.join('\n') + '\n');
  writeFileSync(
    join(outDir, `soak-${stamp}-fast.csv`),
    [
      't_s,run,rss_mb,fds,sockets,files,pipes,anon,other',
      ...fast.map((f) => [(f.t / 1000).toFixed(1), f.run, f.rssMB.toFixed(1), f.fds, f.kinds.socket, f.kinds.file, f.kinds.pipe, f.kinds.anon, f.kinds.other].join(',')),
    ].join('\n') + '\n',
  );
  const fmt = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '-');
  const table = [
    '| t (min) | life | age (min) | fitted | RSS min MB | RSS max MB | fds min | sockets | files | heap min MB | loop p99 ms |',
    '|---:|---:|---:|:-:|---:|---:|---:|---:|---:|---:|---:|',
    ...minutes.map(
      (m) =>
        `| ${(m.start / 60_000).toFixed(1)} | ${m.life} | ${m.age} | ${m.fitted ? 'yes' : ''} | ${fmt(m.rssMin)} | ${fmt(m.rssMax)} | ${m.fdsMin} | ${m.sockets} | ${m.files} | ${fmt(m.heapMin)} | ${fmt(m.loopP99)} |`,
    ),
  ];
  const md = [
    `# soak ${new Date(t0).toISOString()}, ${MINUTES} min, ${targets.length} Polycom + ${osTargets.length} OpenStage phones`,
    '',
    'Per minute of each life (minima from 2-s /proc samples; "fitted": a whole minute after the life\'s warm-up and before the load stopped):',
    '',
    ...table,
    '',
    'Events:',
    '',
    ...events.map((e) => `- ${e}`),
    '',
  ];
  writeFileSync(join(outDir, `soak-${stamp}.md`), md.join('\n'));

  const relayErrors = new Map<string, number>();
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    const code = /"code":"([A-Z_]+)"/.exec(line)?.[1];
    if (code) relayErrors.set(code, (relayErrors.get(code) ?? 0) + 1);
  }

  console.log('');
  console.log(`tasks ${expected.size}, results expected ${[...expected.values()].reduce((a, s) => a + s.size, 0)}, outcomes ${JSON.stringify(outcomes)}`);
  for (const [r, n] of [...failureReasons].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${n} × ${r}`);
  console.log(
    `lost results ${lostResults}, duplicate results ${duplicateResults}, DMS frames not acked ${unanswered.length}, duplicate runs on phones ${duplicateRuns}, outbox left ${outboxLeft}`,
  );
  if (lostResults > 0) console.log(`  lost by kind: ${JSON.stringify(lostByKind)}`);
  for (const d of dupDetail.slice(0, 10)) console.log(`  duplicate: ${d}`);
  console.log(
    `downloads ok ${dl.ok} (${(dl.bytes / MB).toFixed(0)} MB), wrong bodies ${dl.badBody}, interrupted by kills ${dl.interrupted}, statuses ${JSON.stringify(dl.statuses)}`,
  );
  console.log(`disruptions: ${events.length}; relay kills ${kills}; relay log codes ${JSON.stringify(Object.fromEntries([...relayErrors].sort((a, b) => b[1] - a[1])))}`);
  const pm = (f: { slope: number; se: number }, d = 1) => `${round(f.slope, d)} ± ${round(f.se, d)}`;
  console.log(`slopes of the per-minute minima, ${RUN_WARMUP_MS / 60_000} min warm-up per life, pooled over ${rssFit.lives} lives (${rssFit.n} minutes), ± 1 standard error:`);
  console.log(`  RSS ${pm(rssFit)} MB/h, heap ${pm(heapFit)} MB/h; fds ${pm(fdFit)} /h (sockets ${pm(socketFit)}, files ${pm(fileFit)}); SQLite ${pm(sqliteFit, 2)} MB/h`);
  for (const [life, f] of [...filesAt].sort((a, b) => a[0] - b[0])) {
    const diff: string[] = [];
    for (const name of new Set([...Object.keys(f.warm ?? {}), ...Object.keys(f.end ?? {})])) {
      const a = f.warm?.[name] ?? 0;
      const b = f.end?.[name] ?? 0;
      if (a !== b) diff.push(`${name} ${a}→${b}`);
    }
    if (f.end) console.log(`  open files of life ${life} (warm → load end): ${diff.length ? diff.join(', ') : `unchanged (${Object.values(f.end).reduce((a, b) => a + b, 0)})`}`);
  }
  console.log('');
  console.log(table.join('\n'));
  console.log('');
  console.log(`series: ${join(outDir, `soak-${stamp}.csv`)}, -fast.csv and .md; relay log: ${logFile}`);
  console.log(
    JSON.stringify({
      bench: 'soak',
      minutes: MINUTES,
      phones: targets.length,
      tasks: expected.size,
      lost: lostResults + unanswered.length,
      duplicated: duplicateResults + duplicateRuns,
      rssSlopeMBPerHour: round(rssFit.slope),
      fdSlopePerHour: round(fdFit.slope),
      peakRssMB: round(Math.max(...fast.map((f) => f.rssMB), ...samples.map((x) => x.rssMB))),
      loopDelayP99Ms: round(percentile(loaded.map((x) => x.loopP99Ms).filter(Number.isFinite), 0.99)),
      rssSlopeSE: round(rssFit.se),
      fdSlopeSE: round(fdFit.se),
      socketSlopePerHour: round(socketFit.slope),
      fileFdSlopePerHour: round(fileFit.slope),
      heapSlopeMBPerHour: round(heapFit.slope),
      sqliteMB: round(samples.at(-1)?.sqliteMB ?? NaN, 2),
      sqliteSlopeMBPerHour: round(sqliteFit.slope, 2),
      fittedMinutes: rssFit.n,
      downloadsVerified: dl.ok,
      wrongBodies: dl.badBody,
      openstagePhones: osTargets.length,
      kills,
      rssSlopeMBPerHourGoal: GOAL_RSS_MB_PER_HOUR,
      fdSlopePerHourGoal: GOAL_FDS_PER_HOUR,
      goalsMissed: [
        ...(lostResults + unanswered.length > 0 ? ['lost'] : []),
        ...(duplicateResults + duplicateRuns > 0 ? ['duplicated'] : []),
        ...(Number.isFinite(rssFit.slope) && rssFit.slope < GOAL_RSS_MB_PER_HOUR ? [] : ['rssSlopeMBPerHour']),
        ...(Number.isFinite(fdFit.slope) && fdFit.slope < GOAL_FDS_PER_HOUR ? [] : ['fdSlopePerHour']),
      ],
      loadAvg1m: round(loadavg()[0] ?? NaN, 2),
    }),
  );

  relay?.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 2_000));
  relay?.kill('SIGKILL');
  closeSync(logFd);
  for (const c of clients) await c.close();
  for (const w of workers) w.proc.send({ close: true });
  osWorker.send({ close: true });
  await prov.close();
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error('soak failed:', err);
    process.exit(1);
  },
);
