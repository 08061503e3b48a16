import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { ConfigError, errorMessage } from '../errors.js';
import type { Daemon } from '../daemon.js';
import { DmsFiles } from '../management-agent/dms-files.js';
import type { SecureContextOptions } from 'node:tls';
import type { CertificateManager } from '../tls/certificate-manager.js';
import { DeviceWork, type DeviceWorkOptions } from './device-work.js';
import type { FirmwareServeLog } from '../cache/serve-log.js';

import { PHONE_GROUPS_SHOWN, RECENT_TASKS_SHOWN, RECENTLY_OFFLINE_SHOWN } from '../status.js';

/** Rollouts listed in the status document: the newest, active ones first in practice. */
const ROLLOUTS_SHOWN = 10;

/** The URL phones use to reach the relay's phone-facing port (for one-time capture uploads). */
export function relayBaseUrl(fqdn: string, https: AddressInfo | undefined): string | undefined {
  if (!https) return undefined;
  return `https://${fqdn}${https.port === 443 ? '' : `:${https.port}`}`;
}

/** Wires device drivers, tasks and monitoring into the daemon. */
export function wireDeviceWork(daemon: Daemon, firmware: { image: DeviceWorkOptions['images']; served: FirmwareServeLog }, certs?: CertificateManager): DeviceWork {
  const d = daemon.config.devices;
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
  if (d.tlsPolicy === 'insecure') daemon.log.warn({ code: 'DEVICE_TLS_INSECURE' }, 'devices.tlsPolicy=insecure: phone certificates are NOT checked; anyone on the LAN path can impersonate a phone');
  const work = new DeviceWork({
    config: daemon.config,
    db: daemon.store,
    outbox: daemon.outbox,
    registration: daemon.registration,
    clock: daemon.clock,
    log: daemon.log,
    files: new DmsFiles({ dms: daemon.dms }),
    relayBaseUrl: () => relayBaseUrl(daemon.config.fqdn, daemon.addresses.https),
    ...(certs ? { tls: { current: () => certs.current.options, onChange: (fn: (o: SecureContextOptions) => void) => certs.onChange((c) => fn(c.options)) } } : {}),
    ...(firmware.image ? { images: firmware.image } : {}),
    firmwareServed: (ip, path, since) => firmware.served.servedSince(ip, path, since),
  });
  Object.assign(daemon.inbound, work.handlers());
  daemon.phoneRoutes.push(...work.phoneRoutes());
  daemon.status.tasks = () => work.tasks.counts();
  daemon.status.devices = () => work.devices.counts();
  daemon.status.deviceWork = () => work.statusSection();
  daemon.status.rollouts = () => work.rollouts.summaries(ROLLOUTS_SHOWN);
  daemon.status.phones = () => work.devices.summary(PHONE_GROUPS_SHOWN, RECENTLY_OFFLINE_SHOWN);
  daemon.status.recentTasks = () => work.tasks.recent(RECENT_TASKS_SHOWN).map((t) => ({ ...t, createdAt: new Date(t.createdAt).toISOString() }));
  daemon.add(work);
  return work;
}
