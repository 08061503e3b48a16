import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { startDmsSimulator } from '../sim/dms/index.js';
import { DmsImages } from '../sim/dms/images.js';
import { DmsFiles } from '../sim/dms/files.js';
import { startProvisioningSimulator } from '../sim/provisioning/index.js';
import { issueCert, toPfx } from '../sim/pki.js';
import type { PhoneRecord } from '../sim/phone/worker.js';
import { ask } from './device-bench.js';

/**
 * npm run soak [-- --minutes N] (default 20): hours of mixed work squeezed into N minutes, to
 * show that nothing is lost, nothing runs twice and nothing leaks.
 *
 * The relay runs as its own process (killed with SIGKILL and restarted on the same data
 * directory every few minutes). Around it, on loopback: the DMS simulator, a provisioning
 * server, a few thousand simulated Polycom phones (127.20.x.y, in worker processes) polled
 * every 60 s, a task every few seconds cycling through the command kinds, phones-as-clients
 * downloading firmware and provisioning files through the relay's phone port (every body
 * checked), and disruptions on a schedule: control-channel drops, a half-open control
 * connection, a DMS outage, phones unplugged for a while.
 *
 * At the end, from the simulators' own records: every task has exactly one result per device,
 * every DMS frame was acked, no non-repeatable command ran twice on a phone, every downloaded
 * body matched. Every 10 s: the relay's RSS, heap, open fds, SQLite size and event-loop delay
 * p99 (its /metrics); slopes after warm-up are fitted within each relay run (a kill resets
 * memory, so one line across runs would measure the restarts, not a leak).
 *
 * Output: the sample series as CSV and a markdown table (paths printed), then one JSON line.
 * Bounded: phones, tasks and downloads are fixed counts and rates; the whole run has a hard limit.
 */

const here = dirname(fileURLToPath(import.meta.url));
const SRC = join(here, '..', 'src');
const FQDN = 'relay.soak.example';
const MB = 1024 * 1024;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

const MINUTES = arg('minutes', 20);
const PHONES = Math.round(arg('phones', 2_000));
const TASK_EVERY_MS = arg('task-every', 3) * 1000;
const TARGETS_PER_TASK = 10;
const SAMPLE_MS = 10_000;
const T_MS = MINUTES * 60_000;
const KILL_EVERY_MS = Math.min(6 * 60_000, T_MS / 2);
const WARMUP_MS = Math.min(3 * 60_000, T_MS / 4);
/** After each (re)start, samples this close to it are warm-up of that run. */
const RUN_WARMUP_MS = Math.min(60_000, KILL_EVERY_MS / 3);
const OUTAGE_MS = Math.min(60_000, T_MS / 8);
const DRAIN_MS = 120_000;
const HARD_LIMIT_MS = T_MS + DRAIN_MS + 5 * 60_000;

/**
 * The command kinds and their arguments. Each kind gets its own phones so kinds do not
 * interfere (a call in progress holds back a reboot, on purpose). Left out: updateFirmware (it
 * needs phones whose master config names the image; rollout-flow covers it end to end),
 * deployFile (not supported on Polycom phones by this build) and OpenStage phones.
 */
type Kind = { kind: string; args: (n: number) => Record<string, unknown>; group: string; repeatable: boolean };
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
];
/** Share of the phones each group gets; the rest are only polled. */
const GROUPS: Record<string, number> = { misc: 0.3, reboot: 0.05, dial: 0.05, capture: 0.05, reset: 0.05, pcap: 0.05, down: 0.1 };

interface Target {
  deviceId: string;
  mac: string;
  ip: string;
  port: number;
  vendor: 'polycom';
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

/** Least-squares slope of y over x, pooled within groups (each relay run has its own intercept). */
function pooledSlope(points: { g: number; x: number; y: number }[]): number {
  const groups = new Map<number, { x: number; y: number }[]>();
  for (const p of points) groups.set(p.g, [...(groups.get(p.g) ?? []), p]);
  let sxy = 0;
  let sxx = 0;
  for (const pts of groups.values()) {
    if (pts.length < 3) continue;
    const mx = pts.reduce((a, p) => a + p.x, 0) / pts.length;
    const my = pts.reduce((a, p) => a + p.y, 0) / pts.length;
    for (const p of pts) {
      sxy += (p.x - mx) * (p.y - my);
      sxx += (p.x - mx) ** 2;
    }
  }
  return sxx === 0 ? NaN : sxy / sxx;
}

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
    ],
  });
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
      devices: { pollIntervalSeconds: 60, concurrency: 64 },
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
      { start: { count, firstIndex: 30_000 + first, faults: { delayMs: 20 }, hosts: { [FQDN]: '127.0.0.1' }, timing: { rebootOfflineMs: 2_000, callStepMs: 50, answerMs: 100 } } },
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
  const groups = new Map<string, Target[]>();
  let at = 0;
  for (const [g, share] of Object.entries(GROUPS)) {
    const n = Math.max(TARGETS_PER_TASK, Math.floor(targets.length * share));
    groups.set(g, targets.slice(at, at + n));
    at += n;
  }

  // --- the relay process, killed and restarted on the same data dir
  const logFile = join(outDir, 'relay-soak.log');
  const logFd = openSync(logFile, 'w');
  let relay: ChildProcess | undefined;
  let run = 0;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('CLOUD_RELAY_')) env[k] = v;
  const startRelay = async (): Promise<string> => {
    run++;
    relay = spawn(process.execPath, [join(SRC, 'cli.js'), 'start', '--config', join(dir, 'relay.json')], { env, stdio: ['ignore', logFd, logFd] });
    const deadline = Date.now() + 60_000;
    for (;;) {
      const id = sim.relays().find((r) => r.connected)?.relayId;
      if (id) return id;
      if (Date.now() > deadline) throw new Error('relay did not connect to the DMS simulator within 60 s');
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
  }, T_MS * 0.4);
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

  await new Promise((r) => setTimeout(r, T_MS));
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
    const reboots = submittedOn.get('reboot')?.get(r.ip) ?? 0;
    const resets = submittedOn.get('reset')?.get(r.ip) ?? 0;
    // A reset of the web settings does not reboot a simulated phone; only reboot tasks do.
    if (r.reboots > reboots) {
      duplicateRuns += r.reboots - reboots;
      dupDetail.push(`${r.ip}: ${r.reboots} reboots for ${reboots} reboot tasks`);
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

  // --- series, slopes
  const steady = samples.filter((s) => s.t >= WARMUP_MS);
  const runStart = new Map<number, number>();
  for (const s of samples) if (!runStart.has(s.run)) runStart.set(s.run, s.t);
  const inRun = steady.filter((s) => s.t - (runStart.get(s.run) ?? 0) >= RUN_WARMUP_MS);
  const slopePerHour = (pick: (s: Sample) => number) => pooledSlope(inRun.map((s) => ({ g: s.run, x: s.t / 3_600_000, y: pick(s) })));
  const round = (v: number, d = 1) => (Number.isFinite(v) ? Number(v.toFixed(d)) : null);
  const rssSlope = slopePerHour((s) => s.rssMB);
  const fdSlope = slopePerHour((s) => s.fds);
  const heapSlope = slopePerHour((s) => s.heapMB);
  const sqliteSlope = slopePerHour((s) => s.sqliteMB);

  const stamp = new Date(t0).toISOString().replace(/[:.]/g, '-');
  const csv = [
    't_s,run,pid,rss_mb,heap_mb,fds,sqlite_mb,loop_p99_ms,outbox',
    ...samples.map((s) =>
      [Math.round(s.t / 1000), s.run, s.pid, s.rssMB.toFixed(1), s.heapMB.toFixed(1), s.fds, s.sqliteMB.toFixed(2), s.loopP99Ms.toFixed(1), s.outbox].join(','),
    ),
  ];
  writeFileSync(join(outDir, `soak-${stamp}.csv`), csv.join('\n') + '\n');
  const md = [
    `# soak ${new Date(t0).toISOString()}, ${MINUTES} min, ${targets.length} phones`,
    '',
    '| t (s) | run | RSS MB | heap MB | fds | SQLite MB | loop p99 ms |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...samples.map(
      (s) => `| ${Math.round(s.t / 1000)} | ${s.run} | ${s.rssMB.toFixed(1)} | ${s.heapMB.toFixed(1)} | ${s.fds} | ${s.sqliteMB.toFixed(2)} | ${s.loopP99Ms.toFixed(1)} |`,
    ),
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
  console.log(`slopes after warm-up, within runs: RSS ${round(rssSlope)} MB/h, heap ${round(heapSlope)} MB/h, fds ${round(fdSlope)} /h, SQLite ${round(sqliteSlope, 2)} MB/h`);
  console.log(`series: ${join(outDir, `soak-${stamp}.csv`)} and .md; relay log: ${logFile}`);
  console.log(
    JSON.stringify({
      bench: 'soak',
      minutes: MINUTES,
      phones: targets.length,
      tasks: expected.size,
      lost: lostResults + unanswered.length,
      duplicated: duplicateResults + duplicateRuns,
      rssSlopeMBPerHour: round(rssSlope),
      fdSlopePerHour: round(fdSlope),
      peakRssMB: round(Math.max(...samples.map((s) => s.rssMB))),
      loopDelayP99Ms: round(percentile(steady.map((s) => s.loopP99Ms).filter(Number.isFinite), 0.99)),
      heapSlopeMBPerHour: round(heapSlope),
      sqliteMB: round(samples.at(-1)?.sqliteMB ?? NaN, 2),
      downloadsVerified: dl.ok,
      wrongBodies: dl.badBody,
      kills,
    }),
  );

  relay?.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 2_000));
  relay?.kill('SIGKILL');
  closeSync(logFd);
  for (const c of clients) await c.close();
  for (const w of workers) w.proc.send({ close: true });
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
