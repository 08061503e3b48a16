import type { SpaceWatch } from '../store/space.js';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { ConfigError, errorMessage } from '../errors.js';
import type { Clock } from '../core/clock.js';
import type { PartWiring } from '../core/part.js';
import type { Outbox, RegistrationSource } from '../core/ports.js';
import type { RelayConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import type { DmsClient } from '../dms/client.js';
import { DmsFiles } from '../management-agent/dms-files.js';
import type { SecureContextOptions } from 'node:tls';
import type { CertificateManager } from '../tls/certificate-manager.js';
import { DeviceWork, type DeviceWorkOptions } from './device-work.js';
import type { GrantDownload } from '../devices/firmware.js';
import type { FirmwareServeLog } from '../cache/serve-log.js';
import type { DownloadGrants } from '../cache/download-grants.js';
import { PHONE_GROUPS_SHOWN, RECENT_TASKS_SHOWN, RECENTLY_OFFLINE_SHOWN } from '../core/status.js';

/** Rollouts listed in the status document: the newest, active ones first in practice. */
const ROLLOUTS_SHOWN = 10;

/** The URL phones use to reach the relay's phone-facing port (for one-time capture uploads). */
export function relayBaseUrl(fqdn: string, https: AddressInfo | undefined): string | undefined {
  if (!https) return undefined;
  return `https://${fqdn}${https.port === 443 ? '' : `:${https.port}`}`;
}

/** Download grants as drivers see them: full URLs on the phone port, none while it is not bound. */
function grantDownloads(grants: Pick<DownloadGrants, 'grant'>, base: () => string | undefined): GrantDownload {
  return (ip, image, ttlMs) => {
    const b = base();
    if (!b) return undefined;
    const g = grants.grant(ip, image.path, ttlMs);
    return { url: `${b}${g.path}`, fetched: () => g.fetched(), revoke: () => g.revoke() };
  };
}

export interface DeviceWorkWiring extends PartWiring<'devices' | 'tasks' | 'deviceWork' | 'phones' | 'recentTasks' | 'rollouts', ReturnType<DeviceWork['handlers']>> {
  readonly work: DeviceWork;
}

/** Device drivers, tasks and monitoring. `relayBaseUrl` is read once the phone port is bound. */
export function wireDeviceWork(o: {
  config: RelayConfig;
  db: Db;
  outbox: Outbox;
  registration: RegistrationSource;
  /** Capture uploads go to the DMS through the one DMS client. */
  dms: DmsClient;
  clock: Clock;
  log: Logger;
  relayBaseUrl: () => string | undefined;
  /** From the firmware cache: an image of the desired set, and which phone it served what (firmware results). */
  firmware: { image: DeviceWorkOptions['images']; served: FirmwareServeLog; grants?: Pick<DownloadGrants, 'grant'> };
  /** The phone-facing certificate, for vendor listeners that serve phones over TLS (OpenStage DLS). */
  certs?: CertificateManager;
  /** The data disk: results that do not fit wait for space. */
  space?: SpaceWatch;
}): DeviceWorkWiring {
  const d = o.config.devices;
  const certs = o.certs;
  if (d.tlsPolicy === 'verify') {
    if (!d.caFile) throw new ConfigError([{ path: 'devices.caFile', message: 'required when devices.tlsPolicy is "verify" (the CA that signed the phones\' certificates)' }]);
    // Checked here because TLS accepts a file with no certificate in it without a word, and every
    // phone would then fail as "not trusted" instead of the daemon naming the file at start.
    let pem: string;
    try {
      pem = readFileSync(d.caFile, 'utf8');
    } catch (err) {
      throw new ConfigError([{ path: 'devices.caFile', message: `${d.caFile} cannot be read (${errorMessage(err)})` }]);
    }
    try {
      new X509Certificate(pem);
    } catch {
      throw new ConfigError([{ path: 'devices.caFile', message: `${d.caFile} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)` }]);
    }
  }
  if (d.tlsPolicy === 'insecure')
    o.log.warn({ code: 'DEVICE_TLS_INSECURE' }, 'devices.tlsPolicy=insecure: phone certificates are NOT checked; anyone on the LAN path can impersonate a phone');
  const work = new DeviceWork({
    config: o.config,
    db: o.db,
    outbox: o.outbox,
    registration: o.registration,
    clock: o.clock,
    log: o.log,
    files: new DmsFiles({ dms: o.dms }),
    relayBaseUrl: o.relayBaseUrl,
    space: o.space,
    ...(certs ? { tls: { current: () => certs.current.options, onChange: (fn: (c: SecureContextOptions) => void) => certs.onChange((c) => fn(c.options)) } } : {}),
    ...(o.firmware.image ? { images: o.firmware.image } : {}),
    firmwareServed: (ip, path, since) => o.firmware.served.servedSince(ip, path, since),
    ...(o.firmware.grants ? { grantDownload: grantDownloads(o.firmware.grants, o.relayBaseUrl) } : {}),
  });
  return {
    work,
    components: [work],
    phoneRoutes: work.phoneRoutes(),
    handlers: work.handlers(),
    status: {
      tasks: () => ({ ...work.tasks.counts(), rollouts: work.rollouts.counts() }),
      devices: () => work.devices.counts(),
      deviceWork: () => work.statusSection(),
      rollouts: () => work.rollouts.summaries(ROLLOUTS_SHOWN),
      phones: () => work.devices.summary(PHONE_GROUPS_SHOWN, RECENTLY_OFFLINE_SHOWN),
      recentTasks: () => work.tasks.recent(RECENT_TASKS_SHOWN).map((t) => ({ ...t, createdAt: new Date(t.createdAt).toISOString() })),
    },
    readiness: [],
    adminViews: { '/rollouts': () => work.rollouts.view() },
  };
}
