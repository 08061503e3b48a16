import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startDmsSimulator, type DmsSimulator } from './dms/index.js';
import type { ReceivedFrame } from './dms/relays.js';
import { phonesDemoPart } from './phone/demo-part.js';
import { provisioningDemoPart } from './provisioning/demo-part.js';
import { imagesDemoPart } from './dms/images-demo.js';
import { rolloutDemoPart } from './dms/rollout-demo.js';
import { openStageDemoPart } from './openstage/demo-part.js';

/**
 * `npm run demo`: a DMS simulator and a relay on loopback, showing registration,
 * heartbeats and a task round trip, until Ctrl-C. No root, no config: the relay's admin
 * port is its default 127.0.0.1:9090, everything else on loopback high ports, data in
 * ./.demo-data (wiped at each start). The relay's own JSON log goes to .demo-data/relay.log.
 *
 * The relay runs as the built CLI (`dist/cli.js start`) in a child process, exactly as an
 * admin starts it: the simulators share no code with the relay, and the demo sees the relay
 * only from outside (its log, its admin port, and what the DMS receives).
 *
 * Extension point: each capability adds a DemoPart to PARTS (parts run in order, share
 * the context, and should finish within a few seconds).
 */

/** The relay as the demo sees it from outside. */
export interface DemoRelay {
  readonly fqdn: string;
  /** Port of the phone-facing HTTPS listener on 127.0.0.1. */
  readonly httpsPort: number;
  readonly adminUrl: string;
}

export interface DemoContext {
  readonly sim: DmsSimulator;
  readonly relay: DemoRelay;
  readonly relayId: string;
  readonly dataDir: string;
  /** Prints one readable progress line. */
  say(line: string): void;
  /** Resolves when `pred` holds (polled), or rejects after `timeoutMs`. */
  until<T>(pred: () => T | undefined | false, timeoutMs?: number, what?: string): Promise<T>;
  /** The tenant provisioning server, once a part has set one up (later parts add files to it). */
  provisioning?: { setFile(name: string, body: string | Buffer): void };
}

export interface DemoPart {
  readonly title: string;
  run(ctx: DemoContext): Promise<void>;
}

const heartbeats: DemoPart = {
  title: 'Heartbeats (every 5 s here; 120 s in production)',
  async run(ctx) {
    const start = ctx.sim.heartbeats(ctx.relayId).length;
    await ctx.until(() => ctx.sim.heartbeats(ctx.relayId).length >= start + 1, 20_000, 'the next heartbeat');
    const last = ctx.sim.relay(ctx.relayId)!;
    ctx.say(`DMS sees the relay as ${last.state}; ${last.heartbeats} heartbeat(s) so far`);
  },
};

const taskRoundTrip: DemoPart = {
  title: 'Task round trip: DMS → task.submit → relay → ack → results → DMS',
  async run(ctx) {
    const before = ctx.sim.results(ctx.relayId).length;
    // A phone that does not exist (nothing listens on 127.20.255.250:9): the relay reports a per-device failure.
    const { taskId, frameId } = ctx.sim.submitTask(ctx.relayId, {
      name: 'demo status poll',
      command: { kind: 'status' },
      targets: [
        { deviceId: 'demo-phone-1', mac: '0004f2000001', ip: '127.20.255.250', port: 9, vendor: 'polycom', model: 'VVX 450', credentials: { user: 'Polycom', password: '456' } },
      ],
    });
    const answer = await ctx.until(() => ctx.sim.answer(ctx.relayId, frameId), 10_000, 'the relay to answer the task frame');
    ctx.say(`relay answered task ${taskId.slice(0, 8)}: ${answer}`);
    if (!answer.startsWith('ack')) return;
    const done = await ctx
      .until(
        () =>
          ctx.sim
            .results(ctx.relayId)
            .slice(before)
            .find((f) => f.type === 'task.state' && f.frame.taskId === taskId && f.frame.state === 'done'),
        30_000,
        'the task to finish',
      )
      .catch(() => undefined);
    const results = ctx.sim
      .results(ctx.relayId)
      .slice(before)
      .filter((f: ReceivedFrame) => f.frame.taskId === taskId);
    for (const r of results)
      ctx.say(
        `  ${r.type}: ${r.type === 'task.result' ? `${String(r.frame.deviceId)} ${String(r.frame.outcome)}${r.frame.reason ? ` (${String(r.frame.reason)})` : ''}` : `${String(r.frame.state)} ${JSON.stringify(r.frame.totals)}`}`,
      );
    if (!done) ctx.say('  (task not finished within 30 s)');
  },
};

/** The demo, in order. Later capabilities add their parts here. */
export const PARTS: DemoPart[] = [heartbeats, taskRoundTrip, phonesDemoPart, provisioningDemoPart, imagesDemoPart, rolloutDemoPart, openStageDemoPart];

const FQDN = 'relay.demo.example';
const HERE = dirname(fileURLToPath(import.meta.url));

interface StartedLine {
  readonly msg?: unknown;
  readonly admin?: { address: string; port: number };
  readonly https?: { address: string; port: number };
}

/**
 * Starts `node dist/cli.js start --config … >> relay.log` (stdout and stderr straight into the
 * log file, as an admin without systemd would run it, so `cloud-relay diag` finds the log
 * through the relay itself); resolves with its listeners from the "cloud-relay started" line.
 */
function startRelay(cli: string, configFile: string, logFile: string): { proc: ChildProcess; started: Promise<DemoRelay> } {
  const env: Record<string, string> = {};
  // The demo's settings come from its config file only, never from the caller's environment.
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('CLOUD_RELAY_')) env[k] = v;
  const fd = openSync(logFile, 'a', 0o600);
  const proc = spawn(process.execPath, [cli, 'start', '--config', configFile], { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const started = new Promise<DemoRelay>((resolvePromise, reject) => {
    let done = false;
    // The log is a file the relay appends to: read what is new until the started line is in it.
    let offset = 0;
    let rest = '';
    const poll = setInterval(() => {
      let chunk: string;
      try {
        const text = readFileSync(logFile);
        chunk = text.subarray(offset).toString('utf8');
        offset = text.length;
      } catch {
        return;
      }
      rest += chunk;
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        let parsed: StartedLine;
        try {
          parsed = JSON.parse(line) as StartedLine;
        } catch {
          continue;
        }
        if (parsed.msg !== 'cloud-relay started' || !parsed.admin || !parsed.https) continue;
        const a = parsed.admin;
        done = true;
        clearInterval(poll);
        resolvePromise({ fqdn: FQDN, httpsPort: parsed.https.port, adminUrl: `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}` });
      }
    }, 50);
    proc.once('exit', (code, signal) => {
      clearInterval(poll);
      if (done) return;
      let tail = '';
      try {
        tail = readFileSync(logFile, 'utf8').slice(-4_000).trim();
      } catch {
        // no log: the exit code says enough
      }
      reject(new Error(`the relay exited (${signal ?? `code ${String(code)}`}) before it started${tail ? `: ${tail}` : ''}`));
    });
  });
  started.catch(() => undefined);
  return { proc, started };
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { once: { type: 'boolean' }, admin: { type: 'string' }, dir: { type: 'string' }, relay: { type: 'string' } } });
  const t0 = Date.now();
  const say = (line: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${line}`);
  const cli = resolve(values.relay ?? join(HERE, '..', 'dist', 'cli.js'));
  if (!existsSync(cli)) {
    console.error(`demo: ${cli} is missing: build the relay first (npm run build), or pass --relay PATH/cli.js`);
    return 1;
  }
  const base = resolve(values.dir ?? '.demo-data');
  rmSync(base, { recursive: true, force: true });
  mkdirSync(base, { recursive: true, mode: 0o700 });
  const dataDir = join(base, 'relay');

  say('starting the DMS simulator (HTTPS + WSS on 127.0.0.1, its own CA)…');
  const sim = await startDmsSimulator({ heartbeatIntervalSeconds: 5, tenants: { 't-4711': '493027' }, log: (l) => say(`  dms: ${l}`) });
  const caFile = join(base, 'dms-ca.pem');
  writeFileSync(caFile, sim.caPem);
  say(`DMS at ${sim.url}, admin API at ${sim.adminUrl}`);

  const configFile = join(base, 'relay.json');
  const relayConfig = {
    dmsUrl: sim.url,
    dmsCaFile: caFile,
    tenantId: 't-4711',
    pin: '493027',
    fqdn: FQDN,
    dataDir,
    httpsListen: '127.0.0.1:0',
    openstage: { dlsListen: '127.0.0.1:0' },
    adminListen: values.admin ?? '127.0.0.1:9090',
    logLevel: 'info',
    // An upgrading phone is asked every half second whether it is back (5 s by default), so the demo's rollout takes seconds.
    devices: { upgradePollMs: 500 },
  };
  writeFileSync(configFile, JSON.stringify(relayConfig, null, 2), { mode: 0o600 });
  const logFile = join(base, 'relay.log');

  say('starting the relay (tenant t-4711, PIN from the simulator)…');
  const { proc, started } = startRelay(cli, configFile, logFile);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    say(`${why}: stopping the relay (control channel closes with 1001)…`);
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    await exited;
    await sim.close();
    say('stopped.');
  };
  process.once('SIGINT', () => void stop('Ctrl-C').then(() => process.exit(0)));
  process.once('SIGTERM', () => void stop('SIGTERM').then(() => process.exit(0)));

  let relay: DemoRelay;
  try {
    relay = await started;
  } catch (err) {
    console.error(`demo: the relay could not start: ${err instanceof Error ? err.message : String(err)}`);
    if (String(err).includes('EADDRINUSE')) console.error(`demo: is something already listening on ${relayConfig.adminListen}? (another relay or demo)`);
    await sim.close();
    return 1;
  }
  say(`relay admin on ${relay.adminUrl} (try: curl ${relay.adminUrl}/readyz), relay log in ${logFile}`);
  say(`relay phone HTTPS on https://127.0.0.1:${relay.httpsPort} (phones connect here; the demo binds port 0, so it changes each run)`);
  say(`relay data directory ${dataDir}`);
  say(`relay config file ${configFile} (\`cloud-relay config\` shows where each value came from)`);
  const adminArg = values.admin ? ` --admin ${relay.adminUrl.replace(/^http:\/\//, '')}` : '';
  say(
    `from a second terminal: cloud-relay status${adminArg} | cloud-relay config${adminArg} | cloud-relay diag${adminArg}; ` +
      `cloud-relay ip list${adminArg} and cloud-relay devices list${adminArg} find the data directory from the admin port (or pass --data-dir ${dataDir}); ` +
      `cloud-relay rollouts --follow${adminArg} shows the firmware rollout the demo starts near its end, with a progress bar (so does the status page ${relay.adminUrl}/)`,
  );

  const until = async <T>(pred: () => T | undefined | false, timeoutMs = 10_000, what = 'condition'): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = pred();
      if (v) return v;
      if (Date.now() > deadline || stopping) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const relayId = await until(() => sim.relays().find((r) => r.tenantId === 't-4711')?.relayId, 15_000, 'registration');
  say(`registered: relay id ${relayId}`);
  await until(() => sim.connected(relayId), 15_000, 'the control channel');
  const ready = await fetch(`${relay.adminUrl}/readyz`);
  say(`readiness: ${ready.status} ${JSON.stringify(((await ready.json()) as { checks: unknown }).checks)}`);

  const ctx: DemoContext = { sim, relay, relayId, dataDir, say, until };
  for (const part of PARTS) {
    if (stopping) break;
    say(`── ${part.title}`);
    try {
      await part.run(ctx);
    } catch (err) {
      say(`  part failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (values.once) {
    await stop('demo finished (--once)');
    return 0;
  }
  say('demo running: heartbeats continue; press Ctrl-C to stop.');
  return new Promise<number>(() => undefined);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
