import { mkdirSync, rmSync, createWriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startDmsSimulator, type DmsSimulator } from './dms/index.js';
import { Daemon } from '../daemon/index.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../log.js';
import { writeFileSync } from 'node:fs';
import type { ReceivedFrame } from './dms/relays.js';
import { phonesDemoPart } from './phone/demo-part.js';
import { provisioningDemoPart } from './provisioning/demo-part.js';
import { imagesDemoPart } from './dms/images-demo.js';

/**
 * `npm run demo`: a DMS simulator and a relay on loopback, showing registration,
 * heartbeats and a task round trip, until Ctrl-C. No root, no config: the relay's admin
 * port is its default 127.0.0.1:9090, everything else on loopback high ports, data in
 * ./.demo-data (wiped at each start). The relay's own JSON log goes to .demo-data/relay.log.
 *
 * Extension point: each capability adds a DemoPart to PARTS (parts run in order, share
 * the context, and should finish within a few seconds).
 */

export interface DemoContext {
  readonly sim: DmsSimulator;
  readonly daemon: Daemon;
  readonly relayId: string;
  readonly dataDir: string;
  /** Prints one readable progress line. */
  say(line: string): void;
  /** Resolves when `pred` holds (polled), or rejects after `timeoutMs`. */
  until<T>(pred: () => T | undefined | false, timeoutMs?: number, what?: string): Promise<T>;
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
      targets: [{ deviceId: 'demo-phone-1', mac: '0004f2000001', ip: '127.20.255.250', port: 9, vendor: 'polycom', model: 'VVX 450', credentials: { user: 'Polycom', password: '456' } }],
    });
    const answer = await ctx.until(() => ctx.sim.answer(ctx.relayId, frameId), 10_000, 'the relay to answer the task frame');
    ctx.say(`relay answered task ${taskId.slice(0, 8)}: ${answer}`);
    if (!answer.startsWith('ack')) return;
    const done = await ctx
      .until(() => ctx.sim.results(ctx.relayId).slice(before).find((f) => f.type === 'task.state' && f.frame.taskId === taskId && f.frame.state === 'done'), 30_000, 'the task to finish')
      .catch(() => undefined);
    const results = ctx.sim.results(ctx.relayId).slice(before).filter((f: ReceivedFrame) => f.frame.taskId === taskId);
    for (const r of results) ctx.say(`  ${r.type}: ${r.type === 'task.result' ? `${String(r.frame.deviceId)} ${String(r.frame.outcome)}${r.frame.reason ? ` (${String(r.frame.reason)})` : ''}` : `${String(r.frame.state)} ${JSON.stringify(r.frame.totals)}`}`);
    if (!done) ctx.say('  (task not finished within 30 s)');
  },
};

/** The demo, in order. Later capabilities add their parts here. */
export const PARTS: DemoPart[] = [heartbeats, taskRoundTrip, phonesDemoPart, provisioningDemoPart, imagesDemoPart];

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { once: { type: 'boolean' }, admin: { type: 'string' }, dir: { type: 'string' } } });
  const t0 = Date.now();
  const say = (line: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${line}`);
  const base = resolve(values.dir ?? '.demo-data');
  rmSync(base, { recursive: true, force: true });
  mkdirSync(base, { recursive: true, mode: 0o700 });
  const dataDir = join(base, 'relay');

  say('starting the DMS simulator (HTTPS + WSS on 127.0.0.1, its own CA)…');
  const sim = await startDmsSimulator({ heartbeatIntervalSeconds: 5, tenants: { 't-4711': '493027' }, log: (l) => say(`  dms: ${l}`) });
  const caFile = join(base, 'dms-ca.pem');
  writeFileSync(caFile, sim.caPem);
  say(`DMS at ${sim.url}, admin API at ${sim.adminUrl}`);

  const config = loadConfig({
    env: {},
    overrides: {
      dmsUrl: sim.url,
      dmsCaFile: caFile,
      tenantId: 't-4711',
      pin: '493027',
      fqdn: 'relay.demo.example',
      dataDir,
      httpsListen: '127.0.0.1:0',
      adminListen: values.admin ?? '127.0.0.1:9090',
      logLevel: 'info',
    },
  });
  const logFile = join(base, 'relay.log');
  const daemon = new Daemon({ config, logger: createLogger('info', createWriteStream(logFile)) });
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    say(`${why}: stopping the relay (control channel closes with 1001)…`);
    await daemon.stop(why).catch(() => undefined);
    await sim.close();
    say('stopped.');
  };
  process.once('SIGINT', () => void stop('Ctrl-C').then(() => process.exit(0)));
  process.once('SIGTERM', () => void stop('SIGTERM').then(() => process.exit(0)));

  say('starting the relay (tenant t-4711, PIN from the simulator)…');
  try {
    await daemon.start();
  } catch (err) {
    console.error(`demo: the relay could not start: ${err instanceof Error ? err.message : String(err)}`);
    if (String(err).includes('EADDRINUSE')) console.error('demo: is something already listening on 127.0.0.1:9090? (another relay or demo)');
    await sim.close();
    return 1;
  }
  const admin = daemon.addresses.admin!;
  say(`relay admin on http://${admin.address}:${admin.port} (try: curl http://${admin.address}:${admin.port}/readyz), relay log in ${logFile}`);

  const until = async <T>(pred: () => T | undefined | false, timeoutMs = 10_000, what = 'condition'): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = pred();
      if (v) return v;
      if (Date.now() > deadline || stopping) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const relayId = await until(() => daemon.registration.current()?.relayId, 15_000, 'registration');
  say(`registered: relay id ${relayId}`);
  await until(() => sim.connected(relayId), 15_000, 'the control channel');
  const ready = await fetch(`http://${admin.address}:${admin.port}/readyz`);
  say(`readiness: ${ready.status} ${JSON.stringify(((await ready.json()) as { checks: unknown }).checks)}`);

  const ctx: DemoContext = { sim, daemon, relayId, dataDir, say, until };
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
