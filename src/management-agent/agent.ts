import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { Clock } from '../core/clock.js';
import type { Db } from '../store/db.js';
import type { KvStore } from '../store/kv.js';
import { OutboxRepository } from '../store/outbox.js';
import { InboundRepository } from '../store/inbound.js';
import { RegistrationRepository } from '../store/registration.js';
import type { Component } from '../core/lifecycle.js';
import type { StatusDocument, StatusSections } from '../core/status.js';
import type { ReadinessCheck } from '../core/readiness.js';
import { RelayError, errorMessage } from '../errors.js';
import type { InboundHandlers } from './ports.js';
import type { DmsClient } from '../dms/client.js';
import { RegistrationClient, type Credentials } from './registration.js';
import { Heartbeat, heartbeatFields, type HeartbeatAction } from './heartbeat.js';
import { DurableOutbox } from './outbox.js';
import { InboundDispatcher } from './inbound.js';
import type { StoreSpace } from '../store/space.js';
import { ControlChannel } from './control-channel.js';
import { tuningWith, type AgentTuning } from './tuning.js';

export interface ManagementAgentOptions {
  readonly config: { dmsUrl: string; tenantId?: string | undefined; pin?: string | undefined; fqdn: string };
  /** The relay's one DMS client; the agent's registration becomes its token holder. */
  readonly dms: DmsClient;
  readonly db: Db;
  readonly kv: KvStore;
  readonly inbound: InboundHandlers;
  /** The status document, built once per heartbeat by the composition root (includes this agent's own section). */
  readonly status: () => StatusDocument;
  readonly log: Logger;
  readonly clock: Clock;
  readonly tuning?: Partial<AgentTuning> | undefined;
  /** The first heartbeat waits for this (PROTOCOL §2 documents `cert` as an object, so not before the certificate is loaded). */
  readonly heartbeatAfter?: Promise<unknown> | undefined;
  /** Whether the data disk takes writes; a full one refuses frames with a nack. */
  readonly space?: StoreSpace | undefined;
}

const INBOUND_RETENTION_MS = 7 * 24 * 3600 * 1000;

/**
 * Registration, heartbeat, control channel and outbox as one daemon component. Other parts
 * see only `registration` (RegistrationSource) and `outbox` (Outbox).
 */
export class ManagementAgent implements Component {
  readonly name = 'management-agent';
  readonly runId = randomUUID();
  readonly registration: RegistrationClient;
  readonly outbox: DurableOutbox;
  readonly heartbeat: Heartbeat;
  readonly control: ControlChannel;
  private readonly inboundRepo: InboundRepository;
  private readonly dispatcher: InboundDispatcher;
  private readonly regRepo: RegistrationRepository;
  private pruneTimer: NodeJS.Timeout | undefined;
  /** How the DMS API is reached (decided once at start from the settings and the environment). */
  private readonly route: NonNullable<StatusSections['managementAgent']['route']>;

  constructor(private readonly opts: ManagementAgentOptions) {
    const tuning = tuningWith(opts.tuning);
    const { config, log, clock } = opts;
    this.regRepo = new RegistrationRepository(opts.kv);
    const outboxRepo = new OutboxRepository(opts.db);
    this.outbox = new DurableOutbox(outboxRepo, clock, log, tuning.sendWindow, tuning.outboxMaxRows);
    this.registration = new RegistrationClient({
      dmsUrl: config.dmsUrl,
      fqdn: config.fqdn,
      credentials: () => this.credentials(),
      http: opts.dms,
      repo: this.regRepo,
      log,
      clock,
      tuning,
    });
    // Every DMS conversation (images, uploads, pass-through) takes its token from here, and a 401 anywhere registers again.
    opts.dms.useAuthority(this.registration);
    this.heartbeat = new Heartbeat({
      http: opts.dms,
      registration: this.registration,
      body: () => heartbeatFields(opts.status()),
      nextSeq: () => this.nextHeartbeatSeq(),
      onAction: (a) => this.onAction(a),
      holdUntil: opts.heartbeatAfter,
      log,
      clock,
      tuning,
    });
    this.inboundRepo = new InboundRepository(opts.db);
    this.dispatcher = new InboundDispatcher({
      repo: this.inboundRepo,
      handlers: opts.inbound,
      onAnswer: (ref, kind, reason) => this.outbox.answered(ref, kind, reason),
      log,
      clock,
      space: opts.space,
    });
    this.control = new ControlChannel({ registration: this.registration, outbox: this.outbox, inbound: this.dispatcher, dms: opts.dms, runId: this.runId, log, clock, tuning });
    const r = opts.dms.route();
    this.route = { via: r.proxy ? 'proxy' : 'direct', proxy: r.proxy?.shown ?? null, why: r.why };
  }

  private lastSeq = 0;

  /**
   * Sequence numbers rise even while the data disk is full: the number is then counted in
   * memory (the beat itself, which reports the full disk, matters more than storing it).
   */
  private nextHeartbeatSeq(): number {
    try {
      this.lastSeq = Math.max(this.regRepo.nextHeartbeatSeq(), this.lastSeq + 1);
    } catch (err) {
      if (!this.opts.space?.noteFailure(err, 'heartbeat sequence')) throw err;
      this.lastSeq++;
    }
    return this.lastSeq;
  }

  /** Credentials stored by `cloud-relay register` win over the config's: that command is the admin's latest word. */
  credentials(): Credentials {
    const stored = this.regRepo.credentials();
    if (stored) return { tenantId: stored.tenantId, pin: stored.pin };
    return { tenantId: this.opts.config.tenantId ?? '', pin: this.opts.config.pin ?? '' };
  }

  start(): void {
    const { tenantId, pin } = this.credentials();
    if (tenantId === '' || pin === '') {
      throw new RelayError(
        'CREDENTIALS_MISSING',
        'no tenant ID and PIN to register with: set tenantId and pin (or pinFile) in the config or CLOUD_RELAY_TENANT_ID / CLOUD_RELAY_PIN, or run `cloud-relay register --tenant T --pin P` once',
      );
    }
    const prune = () => this.inboundRepo.prune(this.opts.clock.now() - INBOUND_RETENTION_MS);
    prune();
    this.pruneTimer = setInterval(prune, 6 * 3600_000);
    this.pruneTimer.unref();
    this.dispatcher.redispatchPending();
    const stored = this.regRepo.credentials();
    if (stored)
      this.opts.log.info({ tenantId: stored.tenantId, storedAt: stored.storedAt }, 'using the tenant ID and PIN stored by `cloud-relay register` (they win over the config file)');
    this.opts.log.info({ via: this.route.via, proxy: this.route.proxy ?? undefined }, `DMS connections: ${this.route.why}`);
    for (const p of this.opts.dms.proxy.noProxy.problems) this.opts.log.warn({ code: 'CONFIG_INVALID', source: this.opts.dms.proxy.noProxySource }, `NO_PROXY entry ignored: ${p}`);
    this.registration.start();
    this.heartbeat.start();
    this.control.start();
  }

  async stop(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.heartbeat.stop();
    this.registration.stop();
    await this.control.stop();
  }

  readinessCheck(): ReadinessCheck {
    return {
      name: 'registered',
      check: () => {
        const reg = this.registration.current();
        if (reg) return { ok: true };
        const e = this.registration.lastError;
        return { ok: false, detail: e ? `not registered: ${e.message}` : 'not registered yet' };
      },
    };
  }

  statusSection(): StatusSections['managementAgent'] {
    const reg = this.registration.current();
    const tenantId = this.credentials().tenantId;
    return {
      relayId: this.registration.relayId() ?? null,
      tenantId: tenantId === '' ? null : tenantId,
      registered: reg !== undefined,
      tokenExpiresAt: reg?.tokenExpiresAt ?? null,
      lastRegistrationError: this.registration.lastError ?? null,
      heartbeat: {
        intervalSeconds: reg ? this.heartbeat.intervalMs(reg) / 1000 : null,
        sent: this.heartbeat.sent,
        lastOkAt: this.heartbeat.lastOkAt === undefined ? null : new Date(this.heartbeat.lastOkAt).toISOString(),
      },
      control: this.control.status(),
      outboxDepth: this.outbox.depth(),
      route: this.route,
    };
  }

  private onAction(action: HeartbeatAction): void {
    if (action === 'reregister') {
      this.registration.reregister('the DMS asked for it in a heartbeat answer');
      return;
    }
    // resync-images: handed to the images part through the same handler an `images.sync` frame uses.
    const handler = this.opts.inbound['images.sync'];
    if (!handler) {
      this.opts.log.warn({ code: 'ACTION_UNSUPPORTED', action }, 'the DMS asked to resync images, but this relay build has no image sync');
      return;
    }
    try {
      // Same contract as a frame handler: synchronous, inside a store transaction.
      this.inboundRepo.transaction(() => handler({ v: 1, id: `heartbeat-${randomUUID()}`, type: 'images.sync', ts: new Date(this.opts.clock.now()).toISOString() }));
    } catch (err) {
      this.opts.log.error({ code: 'ACTION_FAILED', action, err: errorMessage(err) }, 'image resync requested by the DMS failed');
    }
  }
}
