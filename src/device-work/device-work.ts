import type { SpaceWatch } from '../store/space.js';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import PQueue from 'p-queue';
import type { Logger } from '../log.js';
import type { Clock } from '../core/clock.js';
import type { RelayConfig } from '../config/schema.js';
import type { Db } from '../store/db.js';
import { TaskRepo } from '../store/tasks.js';
import { DeviceRepo } from '../store/devices.js';
import { ContactMeRepo } from '../store/contact-mes.js';
import type { Component } from '../core/lifecycle.js';
import type { StatusSections } from '../core/status.js';
import type { PhoneRoute } from '../core/phone-route.js';
import { PhoneLock } from '../devices/phone-lock.js';
import { DriverRegistry } from '../devices/registry.js';
import type { TlsSource } from '../devices/vendor.js';
import type { AddressInfo } from 'node:net';
import type { Target } from '../management-agent/frames.js';
import type { InboundHandlers } from '../management-agent/ports.js';
import type { Outbox, RegistrationSource } from '../core/ports.js';
import { CaptureInbox } from './capture-inbox.js';
import type { FileUploader } from './ports.js';
import { CommandExecutor, type ExecutorDeps } from './executor.js';
import { TaskRunner } from './runner.js';
import { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
import { StatusBook } from './monitor/status-book.js';
import { DevicePoller } from './monitor/poller.js';
import { PhoneEvents } from './monitor/phone-events.js';
import { CallTracker } from './monitor/call-tracker.js';
import { RolloutRepo } from '../store/rollouts.js';
import { RolloutRunner } from './rollouts/runner.js';
import { deviceUpgrader } from './rollouts/upgrader.js';
import { rolloutHandlers, type RolloutFrameType } from './rollouts/handlers.js';
import type { FirmwareServed, FirmwareWait, GrantDownload } from '../devices/firmware.js';
import type { DeviceAccount } from '../devices/driver.js';
import { setTimeout as sleep } from 'node:timers/promises';

/** Waits for `p`, but no longer than `ms`: upgrades still running then are verified after the next start. */
async function bounded(p: Promise<void>, ms: number): Promise<void> {
  await Promise.race([p, sleep(Math.max(0, ms), undefined, { ref: false })]);
}

/** The relay-wide accounts a target without credentials inherits, by vendor; a vendor without a password has none. */
function accountDefaults(accounts: RelayConfig['accounts'] | undefined): Partial<Record<string, DeviceAccount>> {
  const polycom = accounts?.polycom;
  return polycom?.password !== undefined ? { polycom: { user: polycom.user ?? '', password: polycom.password } } : {};
}

export interface DeviceWorkOptions {
  /** `openstage` comes with `proxy`: the DLS port takes the phone port's connection protections. */
  readonly config: Pick<RelayConfig, 'devices' | 'dataDir'> & Partial<Pick<RelayConfig, 'accounts'>> & (Pick<RelayConfig, 'openstage' | 'proxy'> | { openstage?: undefined });
  /** The phone port's certificate, for vendors with a port of their own (OpenStage DLS). */
  readonly tls?: TlsSource;
  readonly db: Db;
  readonly outbox: Outbox;
  readonly registration: RegistrationSource;
  readonly clock: Clock;
  readonly log: Logger;
  /** Where files the phones produce go (the DMS); device work closes it on stop. */
  readonly files: FileUploader;
  /** https://{fqdn}[:port] as phones reach the relay (for capture uploads). */
  readonly relayBaseUrl: () => string | undefined;
  /** Test knobs: shorter retries, dial confirmation and state throttling. */
  readonly retry?: RetryPolicy;
  readonly dialConfirm?: { attempts: number; intervalMs: number };
  readonly stateEveryMs?: number;
  /** The data disk: task results and device status that do not fit wait for space, not lost. */
  readonly space?: SpaceWatch | undefined;
  readonly captureWaitMs?: number;
  /** Images of the desired set as the cache holds them (updateFirmware, deployFile). */
  readonly images?: ExecutorDeps['images'];
  /** Whether the cache served a phone an image since a time (firmware results say so). */
  readonly firmwareServed?: FirmwareServed;
  /** Test and bench knob: how long and how often an upgrading phone is waited for. */
  readonly firmwareWait?: FirmwareWait;
  /** Per-phone download URLs of cached images (OpenStage deployments). */
  readonly grantDownload?: GrantDownload;
  /** Run the background poll loop (on by default). */
  readonly poll?: boolean;
}

/**
 * Device work built in one place: drivers, the shared queue and
 * per-phone lock, the task runner, the monitor, and the phone-facing routes they need.
 */
export class DeviceWork implements Component {
  readonly name = 'devices-tasks';
  readonly tasks: TaskRepo;
  readonly devices: DeviceRepo;
  readonly runner: TaskRunner;
  readonly poller: DevicePoller;
  readonly rollouts: RolloutRunner;
  readonly phoneEvents: PhoneEvents;
  readonly drivers: DriverRegistry;
  readonly inbox: CaptureInbox;
  readonly queue: PQueue;
  private readonly files: FileUploader;
  /** Vendor listeners bound at start (the OpenStage DLS port as `dls`). */
  listening: Readonly<Record<string, AddressInfo>> = {};
  private readonly workDir: string;

  constructor(private readonly o: DeviceWorkOptions) {
    const cfg = o.config.devices;
    this.tasks = new TaskRepo(o.db);
    this.devices = new DeviceRepo(o.db);
    this.queue = new PQueue({ concurrency: cfg.concurrency });
    const lock = new PhoneLock();
    const devices = this.devices;
    const calls = new CallTracker();
    const book = new StatusBook(this.devices, o.outbox, o.clock, calls, o.space);
    this.phoneEvents = new PhoneEvents({ devices: this.devices, outbox: o.outbox, book, space: o.space });
    this.drivers = new DriverRegistry({
      tlsPolicy: cfg.tlsPolicy,
      caFile: cfg.caFile,
      requestTimeoutMs: cfg.requestTimeoutMs,
      pins: { check: (origin, fp) => devices.checkPin(origin, fp, o.clock.now()) },
      log: o.log,
      phoneEvents: this.phoneEvents,
      now: () => o.clock.now(),
      ...(o.tls && o.config.openstage !== undefined
        ? {
            dls: {
              listen: o.config.openstage.dlsListen,
              paths: o.config.openstage.dlsPaths,
              tls: o.tls,
              contactMeIntervalMs: o.config.openstage.contactMeIntervalSeconds * 1000,
              // The DLS port is a phone-facing port like the phone port, with the same protections.
              handshakeTimeoutMs: o.config.proxy.handshakeTimeoutMs,
              maxConnections: o.config.proxy.maxConnections,
            },
          }
        : {}),
      contactMes: new ContactMeRepo(o.db),
      ...(o.dialConfirm ? { dialConfirm: o.dialConfirm } : {}),
      ...(o.firmwareServed ? { firmwareServed: o.firmwareServed } : {}),
      ...(o.grantDownload ? { grantDownload: o.grantDownload } : {}),
      accounts: accountDefaults(o.config.accounts),
      firmwareWait: o.firmwareWait ?? { pollMs: cfg.upgradePollMs, timeoutMs: cfg.upgradeTimeoutSeconds * 1000 },
    });
    this.workDir = join(o.config.dataDir, 'device-files');
    this.inbox = new CaptureInbox(join(this.workDir, 'inbox'));
    this.files = o.files;
    const executor = new CommandExecutor({
      files: this.files,
      inbox: this.inbox,
      workDir: this.workDir,
      relayBaseUrl: o.relayBaseUrl,
      now: () => o.clock.now(),
      onStatus: (deviceId, snap) => void book.record(deviceId, snap),
      ...(o.captureWaitMs !== undefined ? { captureWaitMs: o.captureWaitMs } : {}),
      ...(o.images ? { images: o.images } : {}),
    });
    this.runner = new TaskRunner({
      tasks: this.tasks,
      devices: this.devices,
      outbox: o.outbox,
      executor,
      chooseDriver: (vendor, kind) => this.drivers.choose(vendor, kind),
      queue: this.queue,
      lock,
      registration: () => o.registration.current(),
      clock: o.clock,
      log: o.log.child({ part: 'tasks' }),
      retry: o.retry ?? DEFAULT_RETRY,
      backlog: cfg.backlog,
      ...(o.stateEveryMs !== undefined ? { stateEveryMs: o.stateEveryMs } : {}),
      space: o.space,
    });
    const images = o.images ?? (() => undefined);
    this.rollouts = new RolloutRunner({
      repo: new RolloutRepo(o.db),
      clock: o.clock,
      log: o.log.child({ part: 'rollouts' }),
      image: (id) => images(id),
      callState: (deviceId) => calls.history(deviceId),
      upgrade: deviceUpgrader({ drivers: this.drivers, lock, images, site: () => o.registration.current()?.site, log: o.log.child({ part: 'rollouts' }) }),
      report: { state: (b) => void o.outbox.enqueue('rollout.state', b), result: (b) => void o.outbox.enqueue('rollout.result', b) },
      idleRecheckMs: cfg.rolloutIdleRecheckSeconds * 1000,
    });
    this.poller = new DevicePoller({
      devices: this.devices,
      book,
      driverFor: (vendor) => this.drivers.statusDriver(vendor),
      queue: this.queue,
      lock,
      clock: o.clock,
      log: o.log.child({ part: 'monitor' }),
      intervalMs: cfg.pollIntervalSeconds * 1000,
    });
  }

  handlers(): Pick<InboundHandlers, 'task.submit' | 'task.update' | 'task.delete' | RolloutFrameType> {
    const remember = (targets: readonly Target[]) => {
      const now = this.o.clock.now();
      for (const t of targets) this.devices.upsert({ deviceId: t.deviceId, mac: t.mac, ip: t.ip, target: JSON.stringify(t) }, now);
    };
    return { ...this.runner.handlers(), ...rolloutHandlers(this.rollouts, remember) };
  }

  phoneRoutes(): PhoneRoute[] {
    return [...this.drivers.routes(), this.inbox.route()];
  }

  statusSection(): StatusSections['deviceWork'] {
    return {
      queued: this.queue.size,
      inFlight: this.queue.pending,
      polls: this.poller.polls,
      pollFailures: this.poller.failures,
      pollsDeferred: this.poller.deferred,
      notifications: this.phoneEvents.received,
      notificationsRefused: this.phoneEvents.rejected,
      captureSlots: this.inbox.pending,
    };
  }

  /** The wall clock stepped: tasks and rollouts due at wall-clock times are re-armed. Returns the tasks re-armed. */
  clockStepped(): number {
    this.rollouts.clockStepped();
    return this.runner.clockStepped();
  }

  async start(): Promise<void> {
    // Leftovers of a crash mid-capture: the phone's upload slot died with the process.
    await rm(this.workDir, { recursive: true, force: true });
    this.listening = await this.drivers.start();
    this.runner.start();
    this.rollouts.start();
    if (this.o.poll !== false) this.poller.start();
  }

  async drain(deadlineMs: number): Promise<void> {
    this.poller.stop();
    await Promise.all([this.runner.stop(deadlineMs), bounded(this.rollouts.stop(), deadlineMs - this.o.clock.now())]);
  }

  async stop(): Promise<void> {
    this.poller.stop();
    await Promise.all([this.runner.stop(this.o.clock.now()), bounded(this.rollouts.stop(), 0)]);
    this.queue.clear();
    this.inbox.close();
    await Promise.allSettled([this.drivers.close(), this.files.close()]);
  }
}
