import { fork, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import type { AddressInfo } from 'node:net';
import PQueue from 'p-queue';
import { issueCert } from '../sim/pki.js';
import type { InteractionStats } from '../sim/openstage/farm.js';
import { ask, startRelayChild, startSim, table, throughRelay, type BenchTarget } from './device-bench.js';
import { goalFields } from './goals.js';

/**
 * bench:openstage — a getParams task on 2,000 simulated OpenStage phones through the relay:
 * seconds from task.submit until the DMS simulator has every result acked, the relay's peak
 * RSS and CPU seconds. The floor, measured in the same run: a bare script doing the same
 * contact-me and one ReadItems exchange per phone (HTTPS DLS listener with an RSA 2048 key as
 * the relay's stand-in certificate, the same concurrency). Phones live in worker processes on
 * 127.20.x.y; loopback only; bounded in count and time.
 */

const here = dirname(fileURLToPath(import.meta.url));
const PHONES = Number(process.env.BENCH_PHONES ?? 2_000);
const PER_WORKER = 1_000;
const CONCURRENCY = 64;
const TIMEOUT_MS = 10 * 60_000;
const GOAL_RATIO = 1.25;
const GOAL_RSS_MB = 300;

interface Phone {
  ip: string;
  port: number;
  mac: string;
}

interface Workers {
  phones: Phone[];
  pids: number[];
  contactMes(): Promise<number>;
  /** The phones' view of their interactions since the last call, all workers together. */
  stats(): Promise<InteractionStats>;
  close(): Promise<void>;
}

async function startWorkers(total: number): Promise<Workers> {
  const workers: ChildProcess[] = [];
  const phones: Phone[] = [];
  await Promise.all(
    Array.from({ length: Math.ceil(total / PER_WORKER) }, async (_, i) => {
      const w = fork(join(here, '..', 'sim', 'openstage', 'worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      workers.push(w);
      const list = await ask(w, { start: { count: Math.min(PER_WORKER, total - i * PER_WORKER), firstIndex: i * PER_WORKER } }, (m) =>
        m.ready ? (m.phones as Phone[]) : undefined,
      );
      phones.push(...list);
    }),
  );
  return {
    phones,
    pids: workers.map((w) => w.pid ?? 0),
    async stats() {
      const all = await Promise.all(workers.map((w) => ask(w, { stats: true }, (m) => (m.stats !== undefined ? (m.stats as InteractionStats) : undefined))));
      // Quantiles of the worker with the larger value: an upper bound, enough to compare floor and relay.
      const worst = (f: (s: InteractionStats) => number[]): number[] => all.map(f).reduce((a, b) => (a.length >= b.length ? a.map((v, i) => Math.max(v, b[i] ?? 0)) : b), []);
      return {
        interactions: all.reduce((n, s) => n + s.interactions, 0),
        failed: all.reduce((n, s) => n + s.failed, 0),
        failures: all.flatMap((s) => s.failures).slice(0, 5),
        startDelayMs: worst((s) => s.startDelayMs),
        firstAnswerMs: worst((s) => s.firstAnswerMs),
        totalMs: worst((s) => s.totalMs),
      };
    },
    async contactMes() {
      const ns = await Promise.all(workers.map((w) => ask(w, { count: 'contactMes' }, (m) => (m.count === 'contactMes' ? Number(m.n) : undefined))));
      return ns.reduce((a, b) => a + b, 0);
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

/** The floor: the smallest DLS that does the same per phone (contact-me, ReadItems, CleanUp), no relay around it. */
async function floor(phones: readonly Phone[]): Promise<{ seconds: number; failures: number }> {
  const cert = issueCert({ cn: 'floor.bench.example', dnsNames: ['floor.bench.example'], keyBits: 2048 });
  const waiting = new Map<string, () => void>();
  const sessions = new Set<string>();
  const server: Server = createServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const nonce = /nonce="([^"]*)"/.exec(body)?.[1] ?? '';
      const ip = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
      const cookie = /JSESSIONID=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
      const answer = (action: string, items: string, headers: Record<string, string> = {}) =>
        res
          .writeHead(200, { 'content-type': 'text/xml; charset=utf-8', ...headers })
          .end(
            `<?xml version="1.0" encoding="UTF-8"?>\n<DLSMessage xmlns="http://www.siemens.com/DLS"><Message nonce="${nonce}"><Action>${action}</Action>${items}</Message></DLSMessage>`,
          );
      if (cookie && sessions.delete(cookie)) {
        answer('CleanUp', '');
        waiting.get(ip)?.();
        return;
      }
      const id = randomBytes(16).toString('hex');
      sessions.add(id);
      answer('ReadItems', '<ItemList><Item name="e164"/></ItemList>', { 'set-cookie': `JSESSIONID=${id}; Path=/; Secure; HttpOnly` });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const queue = new PQueue({ concurrency: CONCURRENCY });
  let failures = 0;
  const t0 = performance.now();
  await Promise.all(
    phones.map((p) =>
      queue.add(async () => {
        const done = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no call-back')), 30_000);
          waiting.set(p.ip, () => {
            clearTimeout(timer);
            resolve();
          });
        });
        try {
          await contactMe(p, port);
          await done;
        } catch {
          failures++;
        } finally {
          waiting.delete(p.ip);
        }
      }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  server.close();
  server.closeAllConnections();
  return { seconds, failures };
}

function contactMe(p: Phone, dlsPort: number): Promise<void> {
  const body = `ContactMe=true&dls_ip_addr=127.0.0.1&dls_ip_port=${dlsPort}`;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: p.ip,
        port: p.port,
        method: 'POST',
        path: '/contact_dls.html/ContactDLS',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' },
        timeout: 10_000,
      },
      (res) => {
        res.resume();
        if (res.statusCode === 204) resolve();
        else reject(new Error(`contact-me answered ${res.statusCode}`));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** User + system CPU seconds of a process so far (/proc/<pid>/stat, clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function main(): Promise<void> {
  const guard = setTimeout(() => {
    console.error('bench:openstage: overall time limit (15 min) reached');
    process.exit(1);
  }, 15 * 60_000);
  guard.unref();
  console.log(`bench:openstage: starting ${PHONES} simulated OpenStage phones on 127.20.x.y …`);
  const workers = await startWorkers(PHONES);
  const sim = await startSim();
  try {
    console.log('floor: bare contact-me + one ReadItems exchange per phone …');
    const phonesCpu0 = workers.pids.reduce((n, pid) => n + cpuSeconds(pid), 0);
    const floorCpu0 = process.cpuUsage();
    const base = await floor(workers.phones);
    const floorCpu = process.cpuUsage(floorCpu0);
    const floorSelfCpuSec = (floorCpu.user + floorCpu.system) / 1e6;
    const phonesCpu1 = workers.pids.reduce((n, pid) => n + cpuSeconds(pid), 0);
    const floorPhones = await workers.stats();
    // Every phone may take one contact-me a minute; the floor's do not count against the relay (another DLS).
    const relay = await startRelayChild(sim, { concurrency: CONCURRENCY });
    const cpuBefore = cpuSeconds(relay.pid);
    const targets = workers.phones.map((p): BenchTarget => ({
      deviceId: `os-${p.mac.replace(/:/g, '')}`,
      mac: p.mac.replace(/:/g, ''),
      ip: p.ip,
      port: p.port,
      vendor: 'openstage' as 'polycom',
      model: 'OpenStage 60',
      credentials: { user: '', password: '' },
    }));
    console.log('relay: getParams task → all results acked …');
    const phonesCpu2 = workers.pids.reduce((n, pid) => n + cpuSeconds(pid), 0);
    const simCpu0 = process.cpuUsage();
    const run = await throughRelay(sim, relay.relayId, { kind: 'getParams', args: { names: ['e164'] } }, targets, { chunk: 2_000, timeoutMs: TIMEOUT_MS });
    const cpuSec = cpuSeconds(relay.pid) - cpuBefore;
    const simCpu = process.cpuUsage(simCpu0);
    const phonesCpu3 = workers.pids.reduce((n, pid) => n + cpuSeconds(pid), 0);
    const relayPhones = await workers.stats();
    const peak = relay.peakRssMB();
    const contactMes = await workers.contactMes();
    await relay.stop();
    const ratio = run.seconds / base.seconds;
    console.log(
      table([
        ['phones', String(PHONES)],
        ['concurrency', String(CONCURRENCY)],
        ['relay seconds (submit → all acked)', run.seconds.toFixed(2)],
        ['relay outcomes', JSON.stringify(run.outcomes)],
        ...run.reasons.map((r, i): [string, string] => [`failure reason ${i + 1}`, r]),
        ['floor seconds (bare contact-me + ReadItems)', base.seconds.toFixed(2)],
        ['floor failures', String(base.failures)],
        [`relay / floor (goal ≤ ${GOAL_RATIO})`, ratio.toFixed(2)],
        ['contact-mes seen by the phones (floor + relay)', String(contactMes)],
        ['relay CPU seconds during the task', cpuSec.toFixed(2)],
        ['floor process CPU seconds', floorSelfCpuSec.toFixed(2)],
        ['phone workers CPU seconds (floor / relay run)', `${(phonesCpu1 - phonesCpu0).toFixed(2)} / ${(phonesCpu3 - phonesCpu2).toFixed(2)}`],
        ['bench process (DMS simulator) CPU seconds, relay run', ((simCpu.user + simCpu.system) / 1e6).toFixed(2)],
        ['phones: interactions (failed), floor / relay', `${floorPhones.interactions} (${floorPhones.failed}) / ${relayPhones.interactions} (${relayPhones.failed})`],
        ...[...floorPhones.failures.map((f) => `floor ${f}`), ...relayPhones.failures.map((f) => `relay ${f}`)].map((f, i): [string, string] => [`phone-side failure ${i + 1}`, f]),
        ['phones: contact-me → interaction ms p50/p90/p99/max, floor | relay', `${floorPhones.startDelayMs.join('/')} | ${relayPhones.startDelayMs.join('/')}`],
        ['phones: first POST answered ms, floor | relay', `${floorPhones.firstAnswerMs.join('/')} | ${relayPhones.firstAnswerMs.join('/')}`],
        ['phones: interaction ms, floor | relay', `${floorPhones.totalMs.join('/')} | ${relayPhones.totalMs.join('/')}`],
        [`relay peak RSS (MB, goal ≤ ${GOAL_RSS_MB})`, String(peak)],
        ['load average (1 min)', loadavg()[0]!.toFixed(2)],
      ]),
    );
    console.log(
      JSON.stringify({
        bench: 'openstage',
        phones: PHONES,
        seconds: Number(run.seconds.toFixed(2)),
        floorSeconds: Number(base.seconds.toFixed(2)),
        peakRssMB: peak,
        cpuSec: Number(cpuSec.toFixed(2)),
        ...goalFields([
          { name: 'goalRatio', value: ratio, atMost: GOAL_RATIO },
          { name: 'peakRssMB', value: peak, atMost: GOAL_RSS_MB },
        ]),
      }),
    );
  } finally {
    await sim.close();
    await workers.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error('bench:openstage failed:', err);
    process.exit(1);
  },
);
