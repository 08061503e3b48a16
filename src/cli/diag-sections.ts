import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { arch, hostname, release, type, uptime } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { RelayConfig } from '../config/schema.js';
import { redactedConfig } from '../config/load.js';
import { DB_FILE, openDb } from '../store/db.js';
import { storeStats } from '../store/stats.js';
import { readInstalled } from '../tls/cert-files.js';
import { inspectPfx } from '../tls/certificate-manager.js';
import { formatReport } from '../tls/validate.js';
import { VERSION } from '../version.js';
import { errorMessage } from '../errors.js';
import { adminGet } from './common.js';
import { timeouts } from '../core/timeouts.js';

/** One file of the support bundle. A section that cannot be gathered says why in its own text. */
export interface DiagFile {
  readonly name: string;
  readonly text: string;
  readonly ok: boolean;
}

const run = promisify(execFile);

function json(name: string, value: unknown): DiagFile {
  return { name, text: `${JSON.stringify(value, null, 2)}\n`, ok: true };
}

function failed(name: string, why: string): DiagFile {
  return { name, text: `${why}\n`, ok: false };
}

export function versionsSection(): DiagFile {
  let osRelease: string | null = null;
  try {
    osRelease = readFileSync('/etc/os-release', 'utf8');
  } catch {
    // not Linux, or a minimal image
  }
  return json('versions.json', {
    relay: VERSION,
    node: process.versions.node,
    openssl: process.versions.openssl,
    sqlite: process.versions.sqlite ?? null,
    v8: process.versions.v8,
    os: { type: type(), release: release(), arch: arch(), hostname: hostname(), uptimeSeconds: Math.round(uptime()) },
    osRelease,
    collectedAt: new Date().toISOString(),
  });
}

export function configSection(cfg: RelayConfig | string): DiagFile {
  return typeof cfg === 'string' ? failed('config-problems.txt', cfg) : json('config.json', redactedConfig(cfg));
}

/** The running daemon's own view: status document, readiness, metrics and image sync states from its admin port. */
export async function daemonSections(base: string): Promise<DiagFile[]> {
  const out: DiagFile[] = [];
  for (const [path, name] of [['/status', 'status.json'], ['/readyz', 'readyz.json'], ['/metrics', 'metrics.txt'], ['/images', 'images.json']] as const) {
    try {
      const r = await adminGet(base, path);
      out.push(typeof r.body === 'string' ? { name, text: r.body, ok: true } : json(name, r.body));
    } catch (err) {
      out.push(failed(name.replace(/\.\w+$/, '.unavailable.txt'), `no relay answered at ${base}${path}: ${errorMessage(err)}`));
    }
  }
  return out;
}

/** The daemon logs JSON to stdout: under systemd that is the journal; elsewhere the bundle says where to look. */
export async function logsSection(lines: number): Promise<DiagFile> {
  try {
    const { stdout, stderr } = await run('journalctl', ['-u', 'cloud-relay', '-n', String(lines), '--no-pager', '-o', 'cat'], { maxBuffer: 64 * 1024 * 1024, timeout: timeouts.cliJournal.ms });
    const text = stdout.trim() === '' ? `journalctl returned no lines for unit cloud-relay${stderr.trim() ? `: ${stderr.trim()}` : ''}\n` : stdout;
    return { name: 'logs.txt', text, ok: stdout.trim() !== '' };
  } catch (err) {
    return failed(
      'logs.txt',
      `no journal logs (journalctl -u cloud-relay failed: ${errorMessage(err)}).\n` +
        'The relay logs JSON lines to stdout: in a container use `docker logs <container>`, ' +
        'otherwise collect the output of the process that runs `cloud-relay start`.',
    );
  }
}

export function storeSection(dataDir: string): DiagFile {
  if (!existsSync(join(dataDir, DB_FILE))) return failed('store.txt', `no database at ${join(dataDir, DB_FILE)}`);
  let db;
  try {
    db = openDb(dataDir, { readonly: true });
  } catch (err) {
    return failed('store.txt', `cannot open the database read-only: ${errorMessage(err)}`);
  }
  try {
    return json('store.json', storeStats(db, dataDir));
  } catch (err) {
    return failed('store.txt', `cannot read store statistics: ${errorMessage(err)}`);
  } finally {
    db.close();
  }
}

/** The report `cloud-relay cert check` prints, for the configured PFX and for one installed later. */
export function certificateSection(cfg: RelayConfig, now = Date.now()): DiagFile {
  const parts: string[] = [];
  const report = (label: string, load: () => { data: Buffer; passphrase: string }) => {
    try {
      const { data, passphrase } = load();
      parts.push(`== ${label}\n${formatReport(inspectPfx(data, passphrase, cfg.fqdn, now).report, cfg.fqdn)}`);
    } catch (err) {
      parts.push(`== ${label}\ncannot check: ${errorMessage(err)}`);
    }
  };
  if (cfg.pfxFile) {
    const file = cfg.pfxFile;
    report(`configured PFX ${file}`, () => ({ data: readFileSync(file), passphrase: cfg.pfxPassphrase ?? '' }));
  }
  const installed = (() => {
    try {
      return readInstalled(cfg.dataDir);
    } catch {
      return undefined;
    }
  })();
  if (installed) report(`installed PFX (${installed.origin}, ${installed.installedAt})`, () => ({ data: Buffer.from(installed.pfx, 'base64'), passphrase: installed.passphrase }));
  if (parts.length === 0) parts.push('no PFX configured or installed: the relay serves a self-signed certificate phones will not trust (see status.json "cert")');
  return { name: 'certificate.txt', text: `${parts.join('\n\n')}\n`, ok: true };
}

/** Last line of defence: no known secret value leaves in the bundle, whatever a section held. */
export function scrubSecrets(files: DiagFile[], secrets: readonly (string | undefined)[]): DiagFile[] {
  const values = secrets.filter((s): s is string => typeof s === 'string' && s.length >= 4);
  if (values.length === 0) return files;
  return files.map((f) => {
    let text = f.text;
    for (const v of values) text = text.split(v).join('[redacted]');
    return { ...f, text };
  });
}
