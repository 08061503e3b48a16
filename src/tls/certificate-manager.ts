import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from '../log.js';
import type { Clock } from '../core/clock.js';
import type { LoadedCertStatus } from '../core/status.js';
import { errorMessage } from '../errors.js';
import { CertificateRejected, PfxLoadError } from './errors.js';
import { readPfx } from './pfx.js';
import { checkCertificate, type CertReport, type CheckedCertificate } from './validate.js';
import { secureContextOptions } from './server-options.js';
import { generateSelfSigned } from './self-signed.js';
import { installedPath, mtimeMs, readInstalled, readSelfSigned, writeInstalled, writeSelfSigned, type InstalledPfx } from './cert-files.js';
import { altNames, commonName, oneLineDn } from './x509-fields.js';
import { timeouts } from '../core/timeouts.js';

export type CertSource = 'installed' | 'config' | 'self-signed';

export interface ActiveCertificate {
  readonly source: CertSource;
  readonly report: CertReport;
  readonly options: SecureContextOptions;
}

export interface CertificateManagerOptions {
  readonly fqdn: string;
  readonly dataDir: string;
  readonly pfxFile?: string | undefined;
  readonly pfxPassphrase?: string | undefined;
  readonly log: Logger;
  readonly clock: Clock;
  /** How often the installed file is polled for `cloud-relay cert install` (ms). */
  readonly watchIntervalMs?: number;
  /** Seals the installed PFX's passphrase at rest with the store's secrets key (absent: kept as given). */
  readonly sealer?: PassphraseSealer | undefined;
}

/** The store's secrets key, as the certificate needs it (the root adapts the store's SecretBox). */
export interface PassphraseSealer {
  seal(plain: string): string;
  /** Throws when the value was sealed with a key this relay no longer has (after `db forget-secrets`). */
  open(sealed: string): string;
  isSealed(value: string): boolean;
}

const WARN_DAYS = 30;
const URGENT_DAYS = 7;
const EXPIRY_CHECK_MS = 6 * 3600_000;

/** Opens and checks a PFX; throws PfxLoadError when it cannot be opened at all. */
export function inspectPfx(data: Buffer, passphrase: string, fqdn: string, now: number): CheckedCertificate {
  return checkCertificate(readPfx(data, passphrase), fqdn, now);
}

/**
 * Owns the phone-facing certificate: picks it at start (newest of installed and configured
 * PFX, else a self-signed stand-in), validates and persists new ones, and tells the server to
 * swap contexts. Existing TLS connections keep the context they were accepted with, so a
 * swap drops nothing.
 */
export class CertificateManager {
  private active: ActiveCertificate | undefined;
  private readonly listeners: ((cert: ActiveCertificate) => void)[] = [];
  private expiryTimer: NodeJS.Timeout | undefined;
  private lastInstalledAt: string | undefined;
  private lastLevel: 'ok' | 'warn' | 'urgent' | 'expired' | undefined;

  constructor(private readonly opts: CertificateManagerOptions) {}

  get current(): ActiveCertificate {
    if (!this.active) throw new Error('certificate manager not initialised');
    return this.active;
  }

  get loaded(): boolean {
    return this.active !== undefined;
  }

  onChange(listener: (cert: ActiveCertificate) => void): void {
    this.listeners.push(listener);
  }

  async init(): Promise<void> {
    const { log, dataDir } = this.opts;
    const installed = this.openInstalled(readInstalled(dataDir));
    const configMtime = this.opts.pfxFile ? mtimeMs(this.opts.pfxFile) : undefined;
    const installedNewer = installed && (configMtime === undefined || Date.parse(installed.installedAt) >= configMtime);
    const candidates: (() => ActiveCertificate | undefined)[] = installedNewer
      ? [() => this.tryInstalled(installed), () => this.tryConfigured()]
      : [() => this.tryConfigured(), () => installed && this.tryInstalled(installed)];
    for (const c of candidates) {
      const got = c();
      if (got) {
        this.lastInstalledAt = installed?.installedAt;
        this.activate(got);
        return;
      }
    }
    this.lastInstalledAt = installed?.installedAt;
    const stand = await this.selfSigned();
    // A cert.install that arrived while the stand-in was generated wins.
    if (this.active) return;
    this.activate(stand);
    log.warn(
      { fqdn: this.opts.fqdn, code: 'CERT_SELF_SIGNED' },
      `NO USABLE PFX CONFIGURED: serving a SELF-SIGNED certificate for ${this.opts.fqdn}. Phones will NOT trust it out of the box; ` +
        'install the relay certificate with CLOUD_RELAY_PFX_FILE, `cloud-relay cert install FILE` or from the DMS',
    );
  }

  /** Watches for `cloud-relay cert install` and for approaching expiry. */
  startWatching(): void {
    this.checkExpiry();
    this.expiryTimer = setInterval(() => this.checkExpiry(), EXPIRY_CHECK_MS);
    this.expiryTimer.unref();
    watchFile(installedPath(this.opts.dataDir), { interval: this.opts.watchIntervalMs ?? timeouts.certWatch.ms, persistent: false }, () => this.reloadInstalled());
  }

  stop(): void {
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    unwatchFile(installedPath(this.opts.dataDir));
  }

  /**
   * Validates, persists and swaps in a new PFX (the `cert.install` frame and the CLI).
   * Throws PfxLoadError or CertificateRejected and leaves the live certificate as it was.
   */
  install(pfx: Buffer, passphrase: string, origin: InstalledPfx['origin']): CertReport {
    const checked = prepare(pfx, passphrase, this.opts.fqdn, this.opts.clock.now());
    const entry: InstalledPfx = { pfx: pfx.toString('base64'), passphrase, installedAt: new Date(this.opts.clock.now()).toISOString(), origin };
    this.writeSealed(entry);
    this.lastInstalledAt = entry.installedAt;
    this.activate({ source: 'installed', report: checked.report, options: secureContextOptions(checked.keyPem, checked.chainPem) });
    this.opts.log.info({ origin, subject: checked.report.subject, notAfter: checked.report.notAfter }, 'phone-facing certificate installed and swapped in');
    return checked.report;
  }

  status(): LoadedCertStatus {
    const r = this.current.report;
    const problems = r.problems.map((p) => `${p.code}: ${p.message}`);
    const warning = expiryWarning(r);
    if (warning) problems.push(warning);
    return {
      subject: r.commonName || r.subject,
      sans: [...r.dnsNames, ...r.ipAddresses],
      notAfter: r.notAfter,
      valid: r.valid,
      selfSigned: this.current.source === 'self-signed',
      ...(problems.length > 0 ? { problems } : {}),
    };
  }

  readiness(): { ok: boolean; detail?: string } {
    const { report, source } = this.current;
    const warning = expiryWarning(report);
    if (source === 'self-signed') return { ok: true, detail: `self-signed certificate for ${this.opts.fqdn}: phones will not trust it${warning ? `; ${warning}` : ''}` };
    if (report.daysLeft < 0 || report.problems.some((p) => p.code === 'CERT_EXPIRED')) return { ok: false, detail: `certificate expired on ${report.notAfter}` };
    if (!report.valid) return { ok: false, detail: report.problems.map((p) => p.code).join(', ') };
    return warning ? { ok: true, detail: warning } : { ok: true };
  }

  private activate(cert: ActiveCertificate): void {
    this.active = cert;
    this.lastLevel = undefined;
    for (const l of this.listeners) l(cert);
  }

  private tryInstalled(entry: InstalledPfx): ActiveCertificate | undefined {
    return this.tryLoad('installed', Buffer.from(entry.pfx, 'base64'), entry.passphrase, 'the installed PFX');
  }

  private tryConfigured(): ActiveCertificate | undefined {
    const file = this.opts.pfxFile;
    if (!file) return undefined;
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (err) {
      this.opts.log.error({ file, code: 'PFX_UNREADABLE', err: errorMessage(err) }, `cannot read the configured PFX ${file}`);
      return undefined;
    }
    return this.tryLoad('config', data, this.opts.pfxPassphrase ?? '', `the configured PFX ${file}`);
  }

  /**
   * At start-up a certificate with problems is still served (it is what the admin chose and
   * may be the best there is); readiness and the heartbeat say it is invalid. Only one that
   * cannot be used for TLS at all is skipped.
   */
  private tryLoad(source: CertSource, data: Buffer, passphrase: string, what: string): ActiveCertificate | undefined {
    const { log, fqdn, clock } = this.opts;
    try {
      const checked = inspectPfx(data, passphrase, fqdn, clock.now());
      const options = secureContextOptions(checked.keyPem, checked.chainPem);
      createSecureContext(options);
      if (checked.report.valid) log.info({ source, subject: checked.report.subject, notAfter: checked.report.notAfter }, `phone-facing certificate loaded from ${what}`);
      else log.error({ code: 'CERT_INVALID', source, problems: checked.report.problems }, `${what} has problems; serving it anyway until a valid one is installed`);
      return { source, report: checked.report, options };
    } catch (err) {
      const code = err instanceof PfxLoadError ? err.code : 'CERT_UNUSABLE';
      log.error({ source, code, err: errorMessage(err) }, `${what} cannot be used: ${errorMessage(err)}`);
      return undefined;
    }
  }

  private async selfSigned(): Promise<ActiveCertificate> {
    const { dataDir, fqdn, clock } = this.opts;
    let stored = readSelfSigned(dataDir);
    let report = stored && stored.fqdn === fqdn ? selfSignedReport(stored.certPem, fqdn, clock.now()) : undefined;
    if (!stored || !report || report.daysLeft < WARN_DAYS) {
      const pems = await generateSelfSigned(fqdn, new Date(clock.now()));
      stored = { fqdn, ...pems };
      writeSelfSigned(dataDir, stored);
      report = selfSignedReport(stored.certPem, fqdn, clock.now());
    }
    return { source: 'self-signed', report, options: secureContextOptions(stored.keyPem, stored.certPem) };
  }

  /**
   * The installed entry with its passphrase in clear, for this process only. A passphrase
   * still in clear on disk (an older relay, or `cloud-relay cert install`, which runs without
   * the key) is sealed in place now. One sealed with a key since forgotten makes the entry
   * unusable: logged, and the configured PFX or a stand-in serves until a new one is installed.
   */
  private openInstalled(entry: InstalledPfx | undefined): InstalledPfx | undefined {
    const sealer = this.opts.sealer;
    if (!entry || !sealer) return entry;
    if (!sealer.isSealed(entry.passphrase)) {
      this.writeSealed(entry);
      this.opts.log.info({ installedAt: entry.installedAt }, "the installed PFX's passphrase is now sealed at rest with the secrets key");
      return entry;
    }
    try {
      return { ...entry, passphrase: sealer.open(entry.passphrase) };
    } catch (err) {
      this.opts.log.error(
        { code: 'SECRETS_UNREADABLE', installedAt: entry.installedAt, err: errorMessage(err) },
        "the installed PFX's passphrase was sealed with a secrets key this relay no longer has: install the certificate again (`cloud-relay cert install` or from the DMS)",
      );
      return undefined;
    }
  }

  private writeSealed(entry: InstalledPfx): void {
    const sealer = this.opts.sealer;
    writeInstalled(this.opts.dataDir, sealer ? { ...entry, passphrase: sealer.seal(entry.passphrase) } : entry);
  }

  private reloadInstalled(): void {
    const raw = readInstalled(this.opts.dataDir);
    if (!raw || raw.installedAt === this.lastInstalledAt) return;
    const entry = this.openInstalled(raw);
    this.lastInstalledAt = raw.installedAt;
    if (!entry) return;
    try {
      const checked = prepare(Buffer.from(entry.pfx, 'base64'), entry.passphrase, this.opts.fqdn, this.opts.clock.now());
      this.activate({ source: 'installed', report: checked.report, options: secureContextOptions(checked.keyPem, checked.chainPem) });
      this.opts.log.info(
        { origin: entry.origin, subject: checked.report.subject, notAfter: checked.report.notAfter },
        'phone-facing certificate installed (by the CLI) and swapped in',
      );
    } catch (err) {
      this.opts.log.error(
        { code: err instanceof PfxLoadError || err instanceof CertificateRejected ? err.code : 'CERT_UNUSABLE', err: errorMessage(err) },
        'the newly installed PFX was refused; the previous certificate stays',
      );
    }
  }

  private checkExpiry(): void {
    const r = this.current.report;
    const level = r.daysLeft < 0 ? 'expired' : r.daysLeft <= URGENT_DAYS ? 'urgent' : r.daysLeft <= WARN_DAYS ? 'warn' : 'ok';
    if (level === this.lastLevel) return;
    this.lastLevel = level;
    const fields = { code: 'CERT_EXPIRING', notAfter: r.notAfter, daysLeft: r.daysLeft, subject: r.subject };
    if (level === 'expired') this.opts.log.error({ ...fields, code: 'CERT_EXPIRED' }, `the phone-facing certificate EXPIRED on ${r.notAfter}: phones will refuse the relay`);
    else if (level === 'urgent') this.opts.log.error(fields, `the phone-facing certificate expires in ${r.daysLeft} days (${r.notAfter}): install a renewed one now`);
    else if (level === 'warn') this.opts.log.warn(fields, `the phone-facing certificate expires in ${r.daysLeft} days (${r.notAfter})`);
  }
}

/** Full check for an install: must open, pass every rule, and be accepted by OpenSSL. */
export function prepare(pfx: Buffer, passphrase: string, fqdn: string, now: number): CheckedCertificate {
  return acceptForInstall(inspectPfx(pfx, passphrase, fqdn, now));
}

/** Throws CertificateRejected for any problem, or OpenSSL's error when it will not load the key and chain. */
export function acceptForInstall(checked: CheckedCertificate): CheckedCertificate {
  if (!checked.report.valid) throw new CertificateRejected(checked.report.problems);
  createSecureContext(secureContextOptions(checked.keyPem, checked.chainPem));
  return checked;
}

function expiryWarning(r: CertReport): string | undefined {
  if (r.daysLeft < 0) return undefined;
  if (r.daysLeft <= WARN_DAYS) return `CERT_EXPIRING: expires in ${r.daysLeft} days (${r.notAfter})`;
  return undefined;
}

function selfSignedReport(certPem: string, fqdn: string, now: number): CertReport {
  const cert = new X509Certificate(certPem);
  const notBefore = new Date(Date.parse(cert.validFrom));
  const notAfter = new Date(Date.parse(cert.validTo));
  const names = altNames(cert);
  return {
    valid: false,
    subject: oneLineDn(cert.subject),
    commonName: commonName(cert.subject) || fqdn,
    dnsNames: names.dns,
    ipAddresses: names.ip,
    issuer: oneLineDn(cert.issuer),
    chain: [{ subject: oneLineDn(cert.subject), issuer: oneLineDn(cert.issuer), notAfter: notAfter.toISOString() }],
    key: 'RSA 2048 bits',
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
    daysLeft: Math.floor((notAfter.getTime() - now) / 86_400_000),
    selfSigned: true,
    problems: [{ code: 'CERT_SELF_SIGNED', message: 'no PFX installed: a self-signed stand-in certificate is served; phones will not trust it' }],
  };
}
