import { hostname } from 'node:os';
import { createLogger, type Logger } from '../log.js';
import { systemClock, type Clock } from '../core/clock.js';
import { Draining, type Component } from '../core/lifecycle.js';
import { ClockStepWatcher } from '../core/clock-step.js';
import { timeouts } from '../core/timeouts.js';
import type { Outbox, RegistrationSource } from '../core/ports.js';
import { buildStatusDocument, buildStatusSections, type StatusDocument, type StatusHeader, type StatusSources } from '../core/status.js';
import { METRIC_SECTIONS } from '../metrics/sections.js';
import type { RelayConfig } from '../config/schema.js';
import { openDb, type Db } from '../store/db.js';
import { KvStore } from '../store/kv.js';
import { StoreSpace } from '../store/space.js';
import { sealLegacySecrets, secretsOf } from '../store/secrets.js';
import { AdminServer, sendJson } from '../admin/server.js';
import { configDocument } from '../admin/config-document.js';
import { statusPageRoute } from '../admin/status-page/route.js';
import { RegistrationRepository } from '../store/registration.js';
import { errorMessage } from '../errors.js';
import { VERSION } from '../version.js';
import type { InboundHandlers } from '../management-agent/ports.js';
import type { ManagementAgent } from '../management-agent/agent.js';
import type { AgentTuning } from '../management-agent/tuning.js';
import type { DeviceWork } from '../device-work/device-work.js';
import { installMetrics } from '../metrics/install.js';
import { wireParts, type BoundAddresses } from './parts.js';

export type { BoundAddresses } from './parts.js';

export interface DaemonOptions {
  readonly config: RelayConfig;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** Management-agent timings (tests and the demo shorten them; not admin settings). */
  readonly agentTuning?: Partial<AgentTuning>;
  /** How often the wall clock is checked for steps (tests shorten it). */
  readonly clockStepCheckMs?: number;
}

/**
 * The running relay: opens the store and the admin port, wires the parts (parts.ts), starts
 * their components in order and stops them in reverse. Only the CLI's `start` (and tests,
 * the demo) construct it; no part imports this folder.
 */
export class Daemon {
  readonly config: RelayConfig;
  readonly log: Logger;
  readonly clock: Clock;
  readonly draining = new Draining();
  readonly addresses: BoundAddresses = {};
  readonly startedAt: number;
  /**
   * The control channel's frame handler table, filled from the parts' contributions in
   * start(). The channel reads it when a frame arrives; tests swap entries to observe frames.
   */
  readonly inbound: InboundHandlers = {};
  private readonly components: Component[] = [];
  private db: Db | undefined;
  /** Whether the data disk takes writes (tests look at it). */
  space: StoreSpace | undefined;
  private admin: AdminServer | undefined;
  private sources: StatusSources | undefined;
  private stopping: Promise<void> | undefined;
  private readonly agentTuning: Partial<AgentTuning> | undefined;
  private readonly clockWatch: ClockStepWatcher;
  /** Set in start(): what parts use to reach the DMS, and the parts tests look into. */
  outbox!: Outbox;
  registration!: RegistrationSource;
  agent: ManagementAgent | undefined;
  deviceWork: DeviceWork | undefined;

  constructor(opts: DaemonOptions) {
    this.agentTuning = opts.agentTuning;
    this.config = opts.config;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? createLogger(opts.config.logLevel);
    this.startedAt = this.clock.now();
    this.clockWatch = new ClockStepWatcher(() => this.clock.now(), opts.clockStepCheckMs ?? timeouts.clockStepCheck.ms, timeouts.clockStepThreshold.ms);
    this.clockWatch.onStep((step) => {
      const tasks = this.deviceWork?.clockStepped() ?? 0;
      this.log.warn(
        { code: 'CLOCK_STEPPED', offsetSeconds: Math.round(step.offsetMs / 1000), now: new Date(step.now).toISOString(), scheduledTasks: tasks },
        `the system clock jumped ${step.offsetMs > 0 ? 'forward' : 'back'} by ${Math.round(Math.abs(step.offsetMs) / 1000)} s: scheduled tasks and rollouts re-armed for their wall-clock times`,
      );
    });
  }

  get store(): Db {
    if (!this.db) throw new Error('daemon not started');
    return this.db;
  }

  get adminServer(): AdminServer {
    if (!this.admin) throw new Error('daemon not started');
    return this.admin;
  }

  async start(): Promise<void> {
    const cfg = this.config;
    const db = openDb(cfg.dataDir, { secretsKeyFile: cfg.secretsKeyFile });
    this.db = db;
    // The key is checked now, not at the first task: a lost key stops the start with its code.
    secretsOf(db);
    const sealed = sealLegacySecrets(db);
    if (sealed.rows > 0) this.log.info({ rows: sealed.rows }, 'stored secrets from an older relay sealed or dropped');
    const kv = new KvStore(db);
    const admin = new AdminServer(this.log);
    this.admin = admin;
    const space = new StoreSpace(db, this.log, this.clock, cfg.dataDir);
    this.space = space;
    this.components.push({ name: 'store-space', stop: () => space.stop() });
    admin.addCheck(space.readinessCheck());
    admin.addCheck({
      name: 'db-writable',
      check: () => {
        try {
          kv.probeWritable();
        } catch (err) {
          // Counted as an episode of the full disk (logged once), not a new error per probe.
          if (space.noteFailure(err, 'readiness probe')) return { ok: false, detail: space.reason() ?? 'data directory full' };
          throw err;
        }
        return { ok: true };
      },
    });

    // First to fail on SIGTERM, so a load balancer's health check takes this relay out while
    // its phone ports still serve (lb.drainDelaySeconds).
    admin.addCheck({ name: 'not-draining', check: () => (this.draining.active ? { ok: false, detail: 'relay is shutting down (draining)' } : { ok: true }) });

    const parts = wireParts({
      config: cfg,
      db,
      kv,
      log: this.log,
      clock: this.clock,
      draining: this.draining,
      addresses: this.addresses,
      agentTuning: this.agentTuning,
      inbound: this.inbound,
      status: () => this.statusDocument(),
      space,
    });
    this.sources = parts.status;
    this.outbox = parts.outbox;
    this.registration = parts.registration;
    this.agent = parts.agent;
    this.deviceWork = parts.deviceWork;
    this.components.push(...parts.components);
    for (const check of parts.readiness) admin.addCheck(check);
    admin.route('/status', (_req, res) => sendJson(res, 200, this.statusDocument()));
    admin.route(
      '/',
      statusPageRoute(
        () => this.statusDocument(),
        () => this.clock.now(),
      ),
    );
    const stored = new RegistrationRepository(kv);
    admin.route('/config', (_req, res) => sendJson(res, 200, configDocument({ config: cfg, storedTenantId: () => stored.credentials()?.tenantId })));
    for (const [path, view] of Object.entries(parts.adminViews)) admin.route(path, (_req, res) => sendJson(res, 200, view()));
    installMetrics(admin, () => buildStatusSections(this.statusHeader(), this.started().sources, METRIC_SECTIONS), this.clock);

    this.addresses.admin = await admin.listen(cfg.adminListen);
    for (const c of this.components) {
      await c.start?.();
    }
    if (this.deviceWork?.listening.dls) this.addresses.dls = this.deviceWork.listening.dls;
    this.clockWatch.start();
    this.log.info({ version: VERSION, admin: this.addresses.admin, https: this.addresses.https, host: hostname() }, 'cloud-relay started');
  }

  /** The status document, read fresh from every part (one build per caller). */
  statusDocument(): StatusDocument {
    return buildStatusDocument(this.statusHeader(), this.started().sources);
  }

  private statusHeader(): StatusHeader {
    return {
      version: VERSION,
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeSeconds: Math.round((this.clock.now() - this.startedAt) / 1000),
      draining: this.draining.active,
      readiness: this.started().admin.readiness(),
    };
  }

  private started(): { sources: StatusSources; admin: AdminServer } {
    if (!this.sources || !this.admin) throw new Error('daemon not started');
    return { sources: this.sources, admin: this.admin };
  }

  /**
   * Graceful stop: refuse new work, let in-flight work finish within the grace period,
   * then close everything in reverse start order. Idempotent.
   */
  stop(reason = 'stop requested'): Promise<void> {
    this.stopping ??= this.doStop(reason);
    return this.stopping;
  }

  private async doStop(reason: string): Promise<void> {
    // No delay when the phone port never opened (a failed start): nobody needs to notice.
    const delaySeconds = this.addresses.https ? this.config.lb.drainDelaySeconds : 0;
    this.draining.begin();
    this.clockWatch.stop();
    if (delaySeconds > 0) {
      this.log.info({ reason, drainDelaySeconds: delaySeconds }, 'shutting down: readiness now fails; phone ports keep serving for the drain delay');
      await new Promise((r) => setTimeout(r, delaySeconds * 1000));
    }
    this.log.info({ reason, graceSeconds: this.config.shutdownGraceSeconds }, 'shutting down: draining in-flight work');
    this.draining.close();
    const deadline = this.clock.now() + this.config.shutdownGraceSeconds * 1000;
    await Promise.all(
      this.components.map(async (c) => {
        try {
          await c.drain?.(deadline);
        } catch (err) {
          this.log.warn({ component: c.name, err: errorMessage(err) }, 'drain failed');
        }
      }),
    );
    for (const c of [...this.components].reverse()) {
      try {
        await c.stop();
      } catch (err) {
        this.log.warn({ component: c.name, err: errorMessage(err) }, 'stop failed');
      }
    }
    await this.admin?.close();
    this.db?.close();
    this.log.info('cloud-relay stopped');
    this.log.flush();
  }
}
