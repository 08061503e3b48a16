import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent } from 'undici';
import PQueue from 'p-queue';
import { startDmsSimulator, type DmsSimulator } from '../sim/dms/index.js';
import { goalFields, relayEnv, shippedNodeOptions } from './goals.js';

/**
 * Shared parts of bench:fanout and bench:monitor: phones in worker processes on 127.20.x.y,
 * the DMS simulator here, the relay as a child process (its own RSS), and the "floor": a bare
 * undici client with the same concurrency talking straight to the phones.
 */

const here = dirname(fileURLToPath(import.meta.url));
const SRC = join(here, '..', 'src');

export interface BenchTarget {
  deviceId: string;
  mac: string;
  ip: string;
  port: number;
  vendor: 'polycom';
  model: string;
  credentials: { user: string; password: string };
}

/** Where rebooting phones boot from (a server URL, the name in its certificate, the CA the phones trust). */
export interface PhoneProvisioning {
  relayUrl: string;
  servername: string;
  ca: string;
  account: { user: string; password: string };
}

export interface PhoneWorkers {
  targets: BenchTarget[];
  count(kind: 'reboots' | 'hits' | 'upgrades'): Promise<number>;
  /** Sends every worker a message ({provisioning} or {setFirmware}) and waits until each has done it. */
  tell(msg: { provisioning: PhoneProvisioning } | { setFirmware: string }): Promise<void>;
  close(): Promise<void>;
}

/** Sends a worker one message and resolves with the first answer `pick` accepts (or rejects on an `error` answer). */
export function ask<T>(w: ChildProcess, msg: unknown, pick: (m: Record<string, unknown>) => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: Record<string, unknown>) => {
      if (typeof m.error === 'string') {
        w.off('message', on);
        reject(new Error(m.error));
        return;
      }
      const v = pick(m);
      if (v === undefined) return;
      w.off('message', on);
      resolve(v);
    };
    w.on('message', on);
    w.send(msg as object);
  });
}

export async function startPhoneWorkers(
  total: number,
  perWorker: number,
  opts: { delayMs: number; rebootOfflineMs: number; provisioning?: PhoneProvisioning },
): Promise<PhoneWorkers> {
  const workers: ChildProcess[] = [];
  const targets: BenchTarget[] = [];
  const starts: Promise<void>[] = [];
  for (let first = 0; first < total; first += perWorker) {
    const count = Math.min(perWorker, total - first);
    const w = fork(join(here, '..', 'sim', 'phone', 'worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    workers.push(w);
    starts.push(
      ask(
        w,
        {
          start: {
            count,
            firstIndex: first,
            faults: { delayMs: opts.delayMs },
            timing: { rebootOfflineMs: opts.rebootOfflineMs },
            ...(opts.provisioning ? { provisioning: opts.provisioning } : {}),
          },
        },
        (m) => (m.ready ? (m.phones as { ip: string; port: number; mac: string; model: string; password: string }[]) : undefined),
      ).then((phones) => {
        for (const p of phones)
          targets.push({ deviceId: `dev-${p.mac}`, mac: p.mac, ip: p.ip, port: p.port, vendor: 'polycom', model: p.model, credentials: { user: 'Polycom', password: p.password } });
      }),
    );
  }
  await Promise.all(starts);
  targets.sort((a, b) => a.deviceId.localeCompare(b.deviceId));
  return {
    targets,
    async count(kind) {
      const ns = await Promise.all(workers.map((w) => ask(w, { count: kind }, (m) => (m.count === kind ? Number(m.n) : undefined))));
      return ns.reduce((a, b) => a + b, 0);
    },
    async tell(msg) {
      const what = Object.keys(msg)[0];
      await Promise.all(workers.map((w) => ask(w, msg, (m) => (m.done === what ? true : undefined))));
    },
    async close() {
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((r) => {
              w.once('exit', () => r());
              w.send({ close: true });
              setTimeout(() => w.kill('SIGKILL'), 10_000).unref();
            }),
        ),
      );
    },
  };
}

export interface RelayChild {
  relayId: string;
  pid: number;
  /** Peak resident set (VmHWM) of the relay process so far, in MB. */
  peakRssMB(): number;
  stop(): Promise<void>;
}

/** `configure` may write files into the relay's directory and returns settings to add (e.g. a PFX the phones trust). */
export async function startRelayChild(
  sim: DmsSimulator,
  devices: Record<string, unknown> = {},
  configure: (dir: string) => Record<string, unknown> = () => ({}),
): Promise<RelayChild> {
  const dir = mkdtempSync(join(tmpdir(), 'cr-bench-'));
  writeFileSync(join(dir, 'dms-ca.pem'), sim.caPem);
  const cfg = {
    dmsUrl: sim.url,
    dmsCaFile: join(dir, 'dms-ca.pem'),
    tenantId: 't-4711',
    pin: '493027',
    fqdn: 'relay.bench.example',
    dataDir: join(dir, 'data'),
    httpsListen: '127.0.0.1:0',
    adminListen: '127.0.0.1:0',
    openstage: { dlsListen: '127.0.0.1:0' },
    logLevel: process.env.BENCH_RELAY_LOG_LEVEL ?? 'warn',
    devices,
    ...configure(dir),
  };
  writeFileSync(join(dir, 'relay.json'), JSON.stringify(cfg));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(relayEnv())) if (v !== undefined && !k.startsWith('CLOUD_RELAY_')) env[k] = v;
  // BENCH_RELAY_NODE_ARGS: extra node flags for the relay only (e.g. --cpu-prof when looking for hot spots).
  const nodeArgs = (process.env.BENCH_RELAY_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  // BENCH_RELAY_LOG: a file that keeps the relay's log lines (with BENCH_RELAY_LOG_LEVEL, e.g. debug) when looking into a run.
  const logTo = process.env.BENCH_RELAY_LOG ? openSync(process.env.BENCH_RELAY_LOG, 'w') : 'ignore';
  const proc = spawn(process.execPath, [...nodeArgs, join(SRC, 'cli.js'), 'start', '--config', join(dir, 'relay.json')], { env, stdio: ['ignore', logTo, 'inherit'] });
  const deadline = Date.now() + 30_000;
  let relayId: string | undefined;
  while (!relayId) {
    if (Date.now() > deadline) throw new Error('relay did not connect to the DMS simulator within 30 s');
    if (proc.exitCode !== null) throw new Error(`relay exited with ${proc.exitCode}`);
    relayId = sim.relays().find((r) => r.connected)?.relayId;
    await new Promise((r) => setTimeout(r, 50));
  }
  const pid = proc.pid ?? 0;
  return {
    relayId,
    pid,
    peakRssMB() {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Math.round(Number(m[1]) / 1024) : NaN;
    },
    async stop() {
      await new Promise<void>((r) => {
        proc.once('exit', () => r());
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 15_000).unref();
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Submits the command for all targets (in tasks of `chunk` targets: a frame is at most 1 MiB)
 * and resolves with the seconds until the DMS simulator holds every task.result and every
 * task's done state (the DMS acks each frame as it stores it).
 */
export async function throughRelay(
  sim: DmsSimulator,
  relayId: string,
  command: { kind: string; args?: Record<string, unknown> },
  targets: readonly BenchTarget[],
  opts: { chunk: number; timeoutMs: number },
): Promise<{ seconds: number; outcomes: Record<string, number>; reasons: string[] }> {
  const taskIds = new Set<string>();
  const reasons = new Set<string>();
  const outcomes: Record<string, number> = {};
  let results = 0;
  let done = 0;
  const t0 = performance.now();
  const finished = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not finished within ${opts.timeoutMs} ms (${results}/${targets.length} results)`)), opts.timeoutMs);
    const on = (e: { relayId: string; frame: Record<string, unknown> }) => {
      if (e.relayId !== relayId || !taskIds.has(String(e.frame.taskId))) return;
      if (e.frame.type === 'task.result') {
        results++;
        const o = String(e.frame.outcome);
        outcomes[o] = (outcomes[o] ?? 0) + 1;
        if (o !== 'success' && reasons.size < 3) reasons.add(String(e.frame.reason).replace(/\d+\.\d+\.\d+\.\d+(:\d+)?/g, '<ip>'));
      } else if (e.frame.type === 'task.state' && e.frame.state === 'done') done++;
      if (results === targets.length && done === taskIds.size) {
        clearTimeout(timer);
        sim.events.off('frame', on);
        resolve();
      }
    };
    sim.events.on('frame', on);
  });
  for (let i = 0; i < targets.length; i += opts.chunk) {
    taskIds.add(sim.submitTask(relayId, { command, targets: targets.slice(i, i + opts.chunk) as unknown as Record<string, unknown>[] }).taskId);
  }
  await finished;
  return { seconds: (performance.now() - t0) / 1000, outcomes, reasons: [...reasons] };
}

/** The floor: the same phone calls from a bare undici client (one connection per phone, same concurrency). */
export async function direct(
  targets: readonly BenchTarget[],
  concurrency: number,
  calls: readonly { method: 'GET' | 'POST'; path: string }[],
): Promise<{ seconds: number; failures: number }> {
  const agent = new Agent({ connections: 1, keepAliveTimeout: 4_000, connect: { rejectUnauthorized: false } });
  const queue = new PQueue({ concurrency });
  let failures = 0;
  const t0 = performance.now();
  await Promise.all(
    targets.map((t) =>
      queue.add(async () => {
        const auth = 'Basic ' + Buffer.from(`${t.credentials.user}:${t.credentials.password}`).toString('base64');
        try {
          for (const c of calls) {
            const res = await agent.request({
              origin: `https://${t.ip}:${t.port}`,
              method: c.method,
              path: c.path,
              headers: { authorization: auth, ...(c.method === 'POST' ? { 'content-type': 'application/json' } : {}) },
              ...(c.method === 'POST' ? { body: '{}' } : {}),
              headersTimeout: 10_000,
              bodyTimeout: 10_000,
            });
            const text = await res.body.text();
            if (res.statusCode !== 200 || !text.includes('"2000"')) failures++;
          }
        } catch {
          failures++;
        }
      }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  await agent.close();
  return { seconds, failures };
}

export async function startSim(): Promise<DmsSimulator> {
  return startDmsSimulator();
}

export function table(rows: readonly [string, string][]): string {
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

/** One device benchmark: the same work through the relay and straight to the phones (the floor). */
export interface DeviceBenchSpec {
  readonly name: string;
  readonly phones: number;
  readonly perWorker: number;
  readonly concurrency: number;
  /** The bare-undici calls per phone that match what the relay does for `command`. */
  readonly floorCalls: readonly { method: 'GET' | 'POST'; path: string }[];
  readonly command: { kind: string; args?: Record<string, unknown> };
  readonly timeoutMs: number;
  /** Overall limit, after which the process exits whatever it is doing. */
  readonly hardLimitMs: number;
  /** Waits between the floor and the relay's turn (e.g. rebooted phones coming back). */
  readonly settleMs?: number;
  /** Goals for a small VM: relay seconds at most this many times the floor's, peak RSS at most this many MB. */
  readonly goal: { readonly vsFloor: number; readonly peakRssMB: number };
  /** Extra table rows, read after the relay's run (before the relay stops). */
  extraRows?(ctx: { sim: DmsSimulator; relayId: string; phones: PhoneWorkers }): Promise<[string, string][]>;
}

/** Runs a spec and prints a table and the one JSON line the issue asks for. Bounded in time and count. */
export function runDeviceBench(spec: DeviceBenchSpec): void {
  const main = async (): Promise<void> => {
    const guard = setTimeout(() => {
      console.error(`bench:${spec.name}: overall time limit (${Math.round(spec.hardLimitMs / 60_000)} min) reached`);
      process.exit(1);
    }, spec.hardLimitMs);
    guard.unref();
    console.log(`bench:${spec.name}: starting ${spec.phones} simulated phones on 127.20.x.y …`);
    const phones = await startPhoneWorkers(spec.phones, spec.perWorker, { delayMs: 50, rebootOfflineMs: 500 });
    const sim = await startSim();
    try {
      console.log('floor: bare undici, straight to the phones …');
      const floor = await direct(phones.targets, spec.concurrency, spec.floorCalls);
      if (spec.settleMs) await new Promise((r) => setTimeout(r, spec.settleMs));
      const relay = await startRelayChild(sim, { concurrency: spec.concurrency });
      console.log(`relay: ${spec.command.kind} task → all results acked …`);
      const run = await throughRelay(sim, relay.relayId, spec.command, phones.targets, { chunk: 2_000, timeoutMs: spec.timeoutMs });
      const peak = relay.peakRssMB();
      const extra = (await spec.extraRows?.({ sim, relayId: relay.relayId, phones })) ?? [];
      await relay.stop();
      console.log(
        table([
          ['phones', String(spec.phones)],
          ['concurrency', String(spec.concurrency)],
          ['relay seconds (submit → all acked)', run.seconds.toFixed(2)],
          ['relay outcomes', JSON.stringify(run.outcomes)],
          ...run.reasons.map((r, i): [string, string] => [`failure reason ${i + 1}`, r]),
          ['floor seconds (bare undici)', floor.seconds.toFixed(2)],
          ['floor failures', String(floor.failures)],
          ['relay / floor', (run.seconds / floor.seconds).toFixed(2)],
          ...extra,
          ['relay peak RSS (MB)', String(peak)],
        ]),
      );
      console.log(
        JSON.stringify({
          bench: spec.name,
          phones: spec.phones,
          seconds: Number(run.seconds.toFixed(2)),
          directSeconds: Number(floor.seconds.toFixed(2)),
          peakRssMB: peak,
          ...goalFields([
            { name: 'vsFloor', value: run.seconds / floor.seconds, atMost: spec.goal.vsFloor },
            { name: 'peakRssMB', value: peak, atMost: spec.goal.peakRssMB },
          ]),
          nodeOptions: shippedNodeOptions(),
        }),
      );
    } finally {
      await sim.close();
      await phones.close();
    }
  };
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`bench:${spec.name} failed:`, err);
      process.exit(1);
    },
  );
}
