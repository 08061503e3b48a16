import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDmsSimulator } from '../sim/dms/index.js';
import { goalFields, shippedNodeOptions } from './goals.js';

/**
 * `npm run bench:startup`: time from spawning `cloud-relay start` to /readyz = 200 (cold:
 * empty data dir, registers; warm: restart with the stored token), and the idle RSS of the
 * running relay next to that of a bare `node` idling as long (the anchor: what any Node
 * program costs here). The relay runs with the node flags it ships with (NODE_OPTIONS of the
 * systemd unit). Everything on loopback against the DMS simulator.
 * BENCH_RUNS (5), BENCH_IDLE_MS (5000), BENCH_NODE_OPTIONS (overrides the shipped flags) tune it.
 */

/** Idle RSS goal for a small VM (bare node here is about 40 MB). */
const GOAL_IDLE_RSS_MB = 60;

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 5_000);
const here = dirname(fileURLToPath(import.meta.url));
const CLI = join(here, '..', 'src', 'cli.js');

function rssKb(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: get('VmRSS'), hwm: get('VmHWM') };
}

async function startAndWaitReady(configFile: string): Promise<{ proc: ChildProcess; ms: number }> {
  const t0 = performance.now();
  const nodeOptions = shippedNodeOptions();
  const env = { ...process.env, NODE_OPTIONS: nodeOptions };
  const proc = spawn(process.execPath, [CLI, 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const deadline = Date.now() + 30_000;
  let admin: string | undefined;
  for (;;) {
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`relay not ready within 30 s:\n${out.slice(-2000)}`);
    }
    if (!admin) {
      const m = /"admin":\{"address":"([^"]+)","family":"[^"]+","port":(\d+)\}/.exec(out);
      if (m) admin = `http://${m[1]}:${m[2]}`;
    }
    if (admin) {
      try {
        const res = await fetch(`${admin}/readyz`);
        if (res.status === 200) return { proc, ms: performance.now() - t0 };
      } catch {
        // not listening yet
      }
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function stop(proc: ChildProcess): Promise<void> {
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

/** RSS of a bare `node` that has loaded nothing, after the same idle time. */
async function bareNodeRssKb(): Promise<number> {
  const proc = spawn(process.execPath, ['-e', 'setInterval(() => {}, 60_000)'], { stdio: 'ignore', env: { ...process.env, NODE_OPTIONS: '' } });
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const { rss } = rssKb(proc.pid!);
  await stop(proc);
  return rss;
}

function stats(xs: number[]): { min: number; median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { min: Math.round(s[0]!), median: Math.round(s[Math.floor(s.length / 2)]!), max: Math.round(s[s.length - 1]!) };
}

async function main(): Promise<void> {
  const sim = await startDmsSimulator({ heartbeatIntervalSeconds: 120 });
  const dir = mkdtempSync(join(tmpdir(), 'cr-bench-startup-'));
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, sim.caPem);
  const cold: number[] = [];
  const warm: number[] = [];
  let idle = { rss: 0, hwm: 0 };
  try {
    for (let i = 0; i < RUNS; i++) {
      const configFile = join(dir, `relay-${i}.json`);
      writeFileSync(
        configFile,
        JSON.stringify({
          dmsUrl: sim.url,
          dmsCaFile: caFile,
          tenantId: 't-4711',
          pin: '493027',
          fqdn: 'relay.bench.example',
          dataDir: join(dir, `data-${i}`),
          httpsListen: '127.0.0.1:0',
          adminListen: '127.0.0.1:0',
          openstage: { dlsListen: '127.0.0.1:0' },
          logLevel: 'info',
        }),
      );
      const a = await startAndWaitReady(configFile);
      cold.push(a.ms);
      await stop(a.proc);
      const b = await startAndWaitReady(configFile);
      warm.push(b.ms);
      if (i === RUNS - 1) {
        await new Promise((r) => setTimeout(r, IDLE_MS));
        idle = rssKb(b.proc.pid!);
      }
      await stop(b.proc);
    }
  } finally {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const bare = await bareNodeRssKb();
  const c = stats(cold);
  const w = stats(warm);
  const rows = [
    ['metric', 'min', 'median', 'max'],
    ['start→ready cold (ms)', c.min, c.median, c.max],
    ['start→ready warm (ms)', w.min, w.median, w.max],
  ];
  for (const r of rows) console.log(`${String(r[0]).padEnd(24)} ${String(r[1]).padStart(7)} ${String(r[2]).padStart(7)} ${String(r[3]).padStart(7)}`);
  console.log(`${'idle RSS (MB)'.padEnd(24)} ${(idle.rss / 1024).toFixed(1).padStart(7)}   (peak ${(idle.hwm / 1024).toFixed(1)} MB, after ${IDLE_MS / 1000} s idle)`);
  console.log(`${'bare node RSS (MB)'.padEnd(24)} ${(bare / 1024).toFixed(1).padStart(7)}`);
  const mb = (kb: number) => Math.round(kb / 102.4) / 10;
  console.log(
    JSON.stringify({
      bench: 'startup',
      runs: RUNS,
      coldReadyMs: c,
      warmReadyMs: w,
      peakRssMb: mb(idle.hwm),
      bareNodeRssMb: mb(bare),
      rssVsBareNode: Math.round((idle.rss / bare) * 100) / 100,
      ...goalFields([{ name: 'idleRssMb', value: mb(idle.rss), atMost: GOAL_IDLE_RSS_MB }]),
      nodeOptions: shippedNodeOptions(),
      node: process.version,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
