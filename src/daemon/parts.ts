import type { AddressInfo } from 'node:net';
import type { Clock } from '../core/clock.js';
import type { Component, Draining } from '../core/lifecycle.js';
import type { Outbox, RegistrationSource } from '../core/ports.js';
import type { ReadinessCheck } from '../core/readiness.js';
import type { StatusDocument, StatusSources } from '../core/status.js';
import type { RelayConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import type { KvStore } from '../store/kv.js';
import type { StoreSpace } from '../store/space.js';
import { secretsOf } from '../store/secrets.js';
import { isSealed } from '../store/secret-box.js';
import type { ManagementAgent } from '../management-agent/agent.js';
import type { InboundHandlers } from '../management-agent/ports.js';
import { tuningWith, type AgentTuning } from '../management-agent/tuning.js';
import { DmsClient } from '../dms/client.js';
import { wireManagementAgent } from '../management-agent/wire.js';
import { wirePhoneHttps } from '../http/phone-https.js';
import { wirePhoneCertificate } from '../tls/wire.js';
import { wireFirmwareCache } from '../cache/wire.js';
import { wireDownloadAgent } from '../download-agent/wire.js';
import type { DeviceWork } from '../device-work/device-work.js';
import { relayBaseUrl, wireDeviceWork } from '../device-work/wire.js';
import { listenersSection, type ListenerKey } from '../listeners.js';

/** Addresses actually bound (ports may be 0 in config: tests and the demo ask the OS); each is a listener in `/status`. */
export type BoundAddresses = Partial<Record<ListenerKey, AddressInfo>>;

export interface WiredParts {
  /** In start order; the daemon stops them in reverse. */
  readonly components: readonly Component[];
  readonly readiness: readonly ReadinessCheck[];
  readonly status: StatusSources;
  readonly adminViews: Readonly<Record<string, () => unknown>>;
  readonly outbox: Outbox;
  readonly registration: RegistrationSource;
  readonly agent: ManagementAgent;
  readonly deviceWork: DeviceWork;
}

/**
 * Wires every part: each wiring function gets what it needs as arguments and returns its
 * contribution (components, phone routes, frame handlers, status sections, readiness
 * checks, admin views); this function is the only place that knows them all.
 */
export function wireParts(o: {
  config: RelayConfig;
  db: Db;
  kv: KvStore;
  log: Logger;
  clock: Clock;
  draining: Draining;
  addresses: BoundAddresses;
  agentTuning: Partial<AgentTuning> | undefined;
  /** Filled here from the parts' handlers; the same object the control channel reads. */
  inbound: InboundHandlers;
  status: () => StatusDocument;
  /** Whether the data disk takes writes. */
  space: StoreSpace;
}): WiredParts {
  const { config, db, log, clock } = o;
  // The DMS client first: it reads dmsCaFile once, every part talks to the DMS through it,
  // and as the first component it is stopped last, after every part that uses it.
  const dmsClient = DmsClient.open(config, { clock, apiTimeoutMs: tuningWith(o.agentTuning).httpTimeoutMs, bulkConnections: config.proxy.upstreamConnections });
  const dmsClientComponent: Component = { name: 'dms-client', stop: () => dmsClient.close() };
  // The installed PFX's passphrase is sealed with the same key as the store's secrets.
  const box = secretsOf(db);
  const tls = wirePhoneCertificate({ config, log, clock, sealer: { seal: (v) => box.seal(v), open: (v) => box.open(v), isSealed } });
  // The DMS link starts first: the others report through its outbox and read its registration.
  // Its heartbeats wait for the phone certificate, so the first one already carries `cert`
  // (PROTOCOL §2) while registration and the control channel need not wait for it.
  const dms = wireManagementAgent({
    config,
    db,
    kv: o.kv,
    log,
    clock,
    tuning: o.agentTuning,
    inbound: o.inbound,
    status: o.status,
    heartbeatAfter: tls.loaded,
    dms: dmsClient,
    space: o.space,
  });
  const { outbox, registration } = dms;

  const firmware = wireFirmwareCache({ config, db, log, clock, registration, dms: dmsClient, space: o.space });
  const images = wireDownloadAgent({
    config,
    db,
    log,
    clock,
    outbox,
    registration,
    dms: dmsClient,
    cache: {
      has: (sha256) => firmware.cache.complete(sha256) !== undefined,
      fill: (img) => firmware.cache.fillImage({ sha256: img.sha256, size: img.size, source: firmware.imageSource(img.url) }),
    },
  });
  const devices = wireDeviceWork({
    config,
    db,
    outbox,
    registration,
    dms: dmsClient,
    clock,
    log,
    firmware: { image: (id) => firmware.image(id), served: firmware.served, grants: firmware.grants },
    certs: tls.certs,
    relayBaseUrl: () => relayBaseUrl(config.fqdn, o.addresses.https),
    space: o.space,
  });
  const phone = wirePhoneHttps({
    config,
    db,
    log,
    clock,
    draining: o.draining,
    registration,
    dms: dmsClient,
    certs: tls.certs,
    // Tried in this order before the provisioning pass-through.
    routes: [dms, tls, firmware, images, devices].flatMap((p) => p.phoneRoutes),
    onListening: (address) => {
      o.addresses.https = address;
    },
  });

  // Typed against the frame schema here: a handler whose frame type does not match fails to compile.
  const handlers: InboundHandlers = { ...tls.handlers, ...images.handlers, ...devices.handlers };
  Object.assign(o.inbound, handlers);
  // Every section of the status document must be supplied: a missing one fails to compile.
  const status: StatusSources = {
    listeners: () => listenersSection(o.addresses),
    ...dms.status,
    ...tls.status,
    ...phone.status,
    ...firmware.status,
    ...images.status,
    ...devices.status,
  };

  // Start order; the certificate is loaded before the phone port listens.
  const parts = [dms, tls, phone, firmware, images, devices];
  return {
    components: [dmsClientComponent, ...parts.flatMap((p) => p.components)],
    readiness: parts.flatMap((p) => p.readiness),
    status,
    adminViews: Object.assign({}, ...parts.map((p) => p.adminViews)) as Record<string, () => unknown>,
    outbox,
    registration,
    agent: dms.agent,
    deviceWork: devices.work,
  };
}
