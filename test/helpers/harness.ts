import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startDmsSimulator, type DmsSimulator, type DmsSimulatorOptions } from '../../sim/dms/index.js';
import { Daemon } from '../../src/daemon/index.js';
import { loadConfig } from '../../src/config/load.js';
import type { RelayConfig } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import type { Clock } from '../../src/core/clock.js';
import type { AgentTuning } from '../../src/management-agent/tuning.js';
import { LogCapture } from './logs.js';
import { FAST_TUNING, tempDir, writeRelayConfig } from './relay-config.js';
import { waitFor } from './wait.js';
import { sharedDmsPki } from './pki-cache.js';

export interface HarnessOptions {
  /** Options of the DMS simulator (default heartbeat interval here: 120 s, as in production). */
  sim?: DmsSimulatorOptions;
  /** Use an already running simulator (not closed by the harness). */
  existingSim?: DmsSimulator;
  tenantId?: string;
  pin?: string;
  /** Extra relay settings (file format), e.g. { shutdownGraceSeconds: 1 }. */
  relayConfig?: Record<string, unknown>;
  tuning?: Partial<AgentTuning>;
  clock?: Clock;
  /** How often the relay checks the wall clock for steps (default: the timeouts table's). */
  clockStepCheckMs?: number;
  /** Use this data dir (e.g. another harness's, after closing it) instead of a fresh one. */
  dataDir?: string;
  /** The environment the config is loaded from (default: none, so the test's own variables never leak in). */
  env?: NodeJS.ProcessEnv;
  /** Start the relay (default true); false to start it later with startRelay(). */
  startRelay?: boolean;
}

export interface Harness {
  readonly sim: DmsSimulator;
  readonly dir: string;
  readonly dataDir: string;
  readonly configFile: string;
  readonly config: RelayConfig;
  readonly logs: LogCapture;
  /** The current in-process relay (replaced by restartRelay). */
  daemon: Daemon;
  /** Starts the relay (when startRelay was false). */
  startRelay(): Promise<Daemon>;
  /** Stops the relay gracefully and starts a new one on the same data dir (same relay id). */
  restartRelay(): Promise<Daemon>;
  /** Waits until the relay is registered and returns its relay id. */
  registered(timeoutMs?: number): Promise<string>;
  /** Waits until the control channel is up (relay and DMS both see it). */
  connected(timeoutMs?: number): Promise<string>;
  adminUrl(): string;
  close(): Promise<void>;
}

/**
 * A DMS simulator plus an in-process relay (the real Daemon) on loopback, its data in a
 * temp dir and its log captured. Tests call close() in afterEach/afterAll.
 */
export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const simOpts = opts.sim ?? {};
  const sim = opts.existingSim ?? (await startDmsSimulator(simOpts.ca || simOpts.certNotBefore ? simOpts : { ...sharedDmsPki(), ...simOpts }));
  const dir = tempDir('cr-harness-');
  const dataDir = opts.dataDir ?? join(dir, 'data');
  const configFile = writeRelayConfig(dir, {
    dmsUrl: sim.url,
    caPem: sim.caPem,
    tenantId: opts.tenantId ?? 't-4711',
    pin: opts.pin ?? '493027',
    dataDir,
    extra: opts.relayConfig ?? {},
  });
  const config = loadConfig({ file: configFile, env: opts.env ?? {} });
  const logs = new LogCapture();
  const makeDaemon = () =>
    new Daemon({
      config,
      logger: createLogger(config.logLevel, logs),
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.clockStepCheckMs ? { clockStepCheckMs: opts.clockStepCheckMs } : {}),
      agentTuning: { ...FAST_TUNING, ...(opts.tuning ?? {}) },
    });
  let daemon: Daemon | undefined;
  let running = false;

  const h: Harness = {
    sim,
    dir,
    dataDir,
    configFile,
    config,
    logs,
    get daemon(): Daemon {
      if (!daemon) throw new Error('relay not started');
      return daemon;
    },
    set daemon(d: Daemon) {
      daemon = d;
    },
    async startRelay() {
      daemon = makeDaemon();
      await daemon.start();
      running = true;
      return daemon;
    },
    async restartRelay() {
      if (daemon && running) await daemon.stop('test restart');
      running = false;
      return h.startRelay();
    },
    async registered(timeoutMs = 10_000) {
      return waitFor(() => daemon?.registration.current()?.relayId, { timeoutMs, message: 'relay registered' });
    },
    async connected(timeoutMs = 10_000) {
      const relayId = await h.registered(timeoutMs);
      await waitFor(() => sim.connected(relayId) && daemon?.agent?.control.connected, { timeoutMs, message: 'control channel connected' });
      return relayId;
    },
    adminUrl() {
      const a = daemon?.addresses.admin;
      if (!a) throw new Error('relay admin not bound');
      return `http://127.0.0.1:${a.port}`;
    },
    async close() {
      if (daemon && running) await daemon.stop('test finished').catch(() => undefined);
      running = false;
      if (!opts.existingSim) await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (opts.startRelay !== false) {
    try {
      await h.startRelay();
    } catch (err) {
      await h.close();
      throw err;
    }
  }
  return h;
}

/**
 * Waits until the relay has stored the DMS's image catalogue with `imageIds` in it, so the phone
 * port knows their paths. (The simulator counts a catalogue request before the relay has even
 * read the answer: a phone asking right after that count can still find the path unknown.)
 */
export async function imagesKnown(h: Harness, imageIds: readonly string[], timeoutMs = 20_000): Promise<void> {
  await waitFor(
    () => {
      const known = h.daemon.statusDocument().firmwareSync.images.map((i) => i.imageId);
      return imageIds.every((id) => known.includes(id));
    },
    { timeoutMs, message: `the relay knows images ${imageIds.join(', ')}` },
  );
}
