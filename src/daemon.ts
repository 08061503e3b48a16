import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from './log.js';
import { systemClock, type Clock } from './clock.js';
import type { RelayConfig } from './config/schema.js';
import { openDb, type Db } from './store/db.js';
import { KvStore } from './store/kv.js';
import { sealLegacySecrets, secretsOf } from './store/secrets.js';
import { AdminServer, sendJson } from './admin/server.js';
import { Draining, type Component } from './lifecycle.js';
import type { StatusDocument, StatusSources } from './status.js';
import { statusPageRoute } from './admin/status-page/route.js';
import { errorMessage } from './errors.js';
import { VERSION } from './version.js';
import type { InboundHandlers, Outbox, RegistrationSource } from './management-agent/ports.js';
import type { PhoneRoute } from './http/types.js';
import { wirePhoneHttps } from './http/phone-https.js';
import { wireFirmwareCache } from './cache/wire.js';
import { wireDownloadAgent } from './download-agent/wire.js';
import { ManagementAgent } from './management-agent/agent.js';
import { tuningWith, type AgentTuning } from './management-agent/tuning.js';
import { DmsClient } from './dms/client.js';
import { zeroStatus } from './status.js';
import { listenersSection, type ListenerKey } from './listeners.js';
import { configDocument } from './admin/config-document.js';
import { RegistrationRepository } from './store/registration.js';
import { installMetrics } from './metrics/install.js';
import { wireDeviceWork } from './device-work/wire.js';
import type { DeviceWork } from './device-work/device-work.js';

export interface DaemonOptions {
  readonly config: RelayConfig;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** Management-agent timings (tests and the demo shorten them; not admin settings). */
  readonly agentTuning?: Partial<AgentTuning>;
}

/** Addresses actually bound (ports may be 0 in config: tests and the demo ask the OS); each is a listener in `/status`. */
export type BoundAddresses = Partial<Record<ListenerKey, AddressInfo>>;

/**
 * The composition root: the only module that knows every part. Parts meet here through
 * the small interfaces in lifecycle.ts, status.ts and management-agent/ports.ts, never
 * through each other's internals.
 */
export class Daemon {
  readonly config: RelayConfig;
  readonly log: Logger;
  readonly clock: Clock;
  readonly draining = new Draining();
  readonly status: StatusSources = {};
  readonly addresses: BoundAddresses = {};
  readonly startedAt: number;
  /** Control-channel frame handlers; each part registers the frame types it owns. */
  readonly inbound: InboundHandlers = {};
  /** Routes the phone-facing HTTPS server tries, in order, before the provisioning pass-through. */
  readonly phoneRoutes: PhoneRoute[] = [];
  /** Set by the management agent's block, first in start(); later blocks may use them. */
  outbox!: Outbox;
  /** The one client of the DMS, shared by every part that talks to it; set first in start(). */
  dms!: DmsClient;
  registration!: RegistrationSource;
  private readonly components: Component[] = [];
  private db: Db | undefined;
  private kvStore: KvStore | undefined;
  private admin: AdminServer | undefined;
  private stopping: Promise<void> | undefined;
  private readonly agentTuning: Partial<AgentTuning> | undefined;
  /** The management agent (issue 2); set first in start(). */
  agent: ManagementAgent | undefined;
  /** Device drivers, tasks and monitoring (issue 5); set in start(). */
  deviceWork: DeviceWork | undefined;

  constructor(opts: DaemonOptions) {
    this.agentTuning = opts.agentTuning;
    this.config = opts.config;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? createLogger(opts.config.logLevel);
    this.startedAt = this.clock.now();
  }

  get store(): Db {
    if (!this.db) throw new Error('daemon not started');
    return this.db;
  }

  get kv(): KvStore {
    if (!this.kvStore) throw new Error('daemon not started');
    return this.kvStore;
  }

  async start(): Promise<void> {
    const cfg = this.config;
    this.db = openDb(cfg.dataDir, { secretsKeyFile: cfg.secretsKeyFile });
    // The key is checked now, not at the first task: a lost key stops the start with its code.
    secretsOf(this.db);
    const sealed = sealLegacySecrets(this.db);
    if (sealed.rows > 0) this.log.info({ rows: sealed.rows }, 'stored secrets from an older relay sealed or dropped');
    this.kvStore = new KvStore(this.db);
    const kv = this.kvStore;

    const admin = new AdminServer(this.log);
    this.admin = admin;
    admin.addCheck({
      name: 'db-writable',
      check: () => {
        kv.probeWritable();
        return { ok: true };
      },
    });
    admin.route('/status', (_req, res) => sendJson(res, 200, this.statusDocument()));
    // First to fail on SIGTERM, so a load balancer's health check takes this relay out while
    // its phone ports still serve (lb.drainDelaySeconds).
    admin.addCheck({ name: 'not-draining', check: () => (this.draining.active ? { ok: false, detail: 'relay is shutting down (draining)' } : { ok: true }) });
    admin.route('/', statusPageRoute(() => this.statusDocument(), () => this.clock.now()));
    const stored = new RegistrationRepository(kv);
    admin.route('/config', (_req, res) => sendJson(res, 200, configDocument({ config: cfg, storedTenantId: () => stored.credentials()?.tenantId })));

    // The DMS client first: it reads dmsCaFile once, every part talks to the DMS through it,
    // and as the first component it is stopped last, after every part that uses it.
    const dms = DmsClient.open(cfg, { clock: this.clock, apiTimeoutMs: tuningWith(this.agentTuning).httpTimeoutMs, bulkConnections: cfg.proxy.upstreamConnections });
    this.dms = dms;
    this.add({ name: 'dms-client', stop: () => dms.close() });
    // --- parts are wired below, each by the issue that builds it ---
    // management agent: registration, heartbeat, control channel, outbox (issue 2)
    const agent = new ManagementAgent({
      config: cfg,
      db: this.db,
      kv,
      inbound: this.inbound,
      statusFields: () => ({ version: VERSION, uptimeSeconds: Math.round((this.clock.now() - this.startedAt) / 1000), ...zeroStatus(this.status) }),
      log: this.log,
      clock: this.clock,
      tuning: this.agentTuning,
      dms,
    });
    this.agent = agent;
    this.outbox = agent.outbox;
    this.registration = agent.registration;
    admin.addCheck(agent.readinessCheck());
    this.status.agent = () => agent.statusSection();
    this.add(agent);
    // phone-facing HTTPS: tls, provisioning pass-through, ip guard (issue 3)
    const phoneHttps = wirePhoneHttps(this);
    // cache + download agent (issue 4)
    const firmware = wireFirmwareCache({ config: cfg, db: this.db, log: this.log, clock: this.clock, registration: this.registration, dms });
    this.phoneRoutes.push(firmware.route);
    this.status.cache = () => {
      const s = firmware.cache.stats();
      return { bytes: s.bytes, objects: s.objects, hits: s.hits, misses: s.misses };
    };
    admin.addCheck({ name: 'cache-dir-writable', check: () => (firmware.cache.writable() ? { ok: true } : { ok: false, detail: `cache directory ${cfg.cacheDir} is not usable` }) });
    this.add(firmware.component);
    const images = wireDownloadAgent({
      config: cfg,
      db: this.db,
      log: this.log,
      clock: this.clock,
      outbox: this.outbox,
      registration: this.registration,
      dms,
      cache: {
        has: (sha256) => firmware.cache.complete(sha256) !== undefined,
        fill: (img) => firmware.cache.fillImage({ sha256: img.sha256, size: img.size, source: firmware.imageSource(img.url) }),
      },
    });
    // Also reached by the heartbeat's resync-images action; only schedules, never awaits.
    this.inbound['images.sync'] = () => images.agent.requestSync('images.sync');
    this.status.images = () => images.agent.counters();
    admin.route('/images', (_req, res) => sendJson(res, 200, images.agent.view()));
    this.status.firmwareCache = () => firmware.cache.stats();
    this.status.firmwareSync = () => {
      const v = images.agent.view();
      return { lastSyncAt: v.lastSyncAt, lastError: v.lastError, windowOpen: v.windowOpen, nextWindowAt: v.nextWindowAt, images: v.images };
    };
    this.add(images.component);
    // device drivers, tasks, monitoring (issue 5)
    this.deviceWork = wireDeviceWork(this, { image: (id) => firmware.image(id), served: firmware.served }, phoneHttps.certs);
    // metrics (issue 6)
    installMetrics(this, admin);

    this.addresses.admin = await admin.listen(cfg.adminListen);
    for (const c of this.components) {
      await c.start?.();
    }
    if (this.deviceWork?.listening.dls) this.addresses.dls = this.deviceWork.listening.dls;
    this.log.info({ version: VERSION, admin: this.addresses.admin, https: this.addresses.https, host: hostname() }, 'cloud-relay started');
  }

  add(component: Component): void {
    this.components.push(component);
  }

  get adminServer(): AdminServer {
    if (!this.admin) throw new Error('daemon not started');
    return this.admin;
  }

  statusDocument(): StatusDocument {
    const s = this.status;
    const optional = <K extends keyof StatusDocument>(key: K, get: (() => StatusDocument[K]) | undefined): Partial<StatusDocument> => (get ? { [key]: get() } : {});
    return {
      version: VERSION,
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeSeconds: Math.round((this.clock.now() - this.startedAt) / 1000),
      draining: this.draining.active,
      readiness: this.admin?.readiness(),
      listeners: listenersSection(this.addresses),
      cert: this.status.cert?.() ?? null,
      cache: this.status.cache?.() ?? null,
      images: this.status.images?.() ?? null,
      devices: this.status.devices?.() ?? null,
      tasks: this.status.tasks?.() ?? null,
      ...optional('managementAgent', s.agent),
      ...optional('firmwareCache', s.firmwareCache),
      ...optional('firmwareSync', s.firmwareSync),
      ...optional('phones', s.phones),
      ...optional('recentTasks', s.recentTasks),
      ...optional('rollouts', s.rollouts),
      ...optional('ipGuard', s.ipGuard),
      ...optional('deviceWork', s.deviceWork),
    };
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
