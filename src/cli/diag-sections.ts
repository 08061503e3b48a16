import { execFile } from 'node:child_process';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
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
import type { LogDestination } from '../admin/config-document.js';

/**
 * How INDEX.txt labels a file: `ok` holds what its name says; `problems` is there and lists
 * problems found (e.g. config-problems.txt); `unavailable` says why it could not be gathered.
 */
export type DiagState = 'ok' | 'problems' | 'unavailable';

/** One file of the support bundle. A section that cannot be gathered says why in its own text. */
export interface DiagFile {
  readonly name: string;
  readonly text: string;
  readonly state: DiagState;
  /** One line for INDEX.txt: where it came from or why it is not what its name says. */
  readonly note?: string;
}

const run = promisify(execFile);

function json(name: string, value: unknown, note?: string): DiagFile {
  return { name, text: `${JSON.stringify(value, null, 2)}\n`, state: 'ok', ...(note ? { note } : {}) };
}

function unavailable(name: string, why: string): DiagFile {
  return { name, text: `${why}\n`, state: 'unavailable', note: why.split('\n')[0]! };
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

/** The running relay's effective configuration (from its admin port), else this shell's, else its problems. */
export function configSection(cfg: RelayConfig | string, fromRelay?: { base: string; doc: unknown }): DiagFile {
  if (fromRelay) return json('config.json', fromRelay.doc, `effective configuration of the relay at ${fromRelay.base}, secrets redacted`);
  if (typeof cfg === 'string')
    return { name: 'config-problems.txt', text: `${cfg}\n`, state: 'problems', note: 'the configuration in this shell has problems (listed inside); no relay answered' };
  return json('config.json', redactedConfig(cfg), 'configuration in this shell (no relay answered), secrets redacted');
}

/** The running daemon's own view: status document, readiness, metrics and image sync states from its admin port. */
export async function daemonSections(base: string): Promise<DiagFile[]> {
  const out: DiagFile[] = [];
  for (const [path, name] of [
    ['/status', 'status.json'],
    ['/readyz', 'readyz.json'],
    ['/metrics', 'metrics.txt'],
    ['/images', 'images.json'],
  ] as const) {
    try {
      const r = await adminGet(base, path);
      out.push(typeof r.body === 'string' ? { name, text: r.body, state: 'ok' as const } : json(name, r.body));
    } catch (err) {
      out.push(unavailable(name.replace(/\.\w+$/, '.unavailable.txt'), `no relay answered at ${base}${path}: ${errorMessage(err)}`));
    }
  }
  return out;
}

/** The last `lines` lines of a file, read backwards in chunks so a large log is never read whole. */
export function tailFile(file: string, lines: number): string {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const chunks: Buffer[] = [];
    let pos = size;
    let newlines = 0;
    while (pos > 0 && newlines <= lines) {
      const len = Math.min(64 * 1024, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, pos);
      for (const b of buf) if (b === 10) newlines++;
      chunks.unshift(buf);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    const all = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
    return `${all.slice(-lines).join('\n')}\n`;
  } finally {
    closeSync(fd);
  }
}

async function journal(lines: number): Promise<{ text: string } | { why: string }> {
  try {
    const { stdout, stderr } = await run('journalctl', ['-u', 'cloud-relay', '-n', String(lines), '--no-pager', '-o', 'cat'], {
      maxBuffer: 64 * 1024 * 1024,
      timeout: timeouts.cliJournal.ms,
    });
    return stdout.trim() === '' ? { why: `journalctl returned no lines for unit cloud-relay${stderr.trim() ? ` (${stderr.trim()})` : ''}` } : { text: stdout };
  } catch (err) {
    return { why: `journalctl -u cloud-relay failed: ${errorMessage(err)}` };
  }
}

/**
 * The relay's log from wherever it writes it: the file a running relay names on its admin
 * port, else the journal (systemd), else a note saying where the logs are.
 */
export async function logsSection(lines: number, dest: { log: LogDestination; pid: number } | undefined): Promise<DiagFile> {
  if (dest?.log.to === 'file') {
    const file = dest.log.file;
    try {
      return { name: 'logs.txt', text: tailFile(file, lines), state: 'ok', note: `last ${lines} lines of ${file}` };
    } catch (err) {
      return unavailable('logs.txt', `the relay logs to ${file}, which cannot be read: ${errorMessage(err)} (run diag as the relay's user)`);
    }
  }
  const j = await journal(lines);
  if ('text' in j) return { name: 'logs.txt', text: j.text, state: 'ok', note: `last ${lines} journal lines of unit cloud-relay` };
  const where =
    dest?.log.to === 'stdout'
      ? `The relay (pid ${dest.pid}) logs JSON lines to its stdout: in a container use \`docker logs <container>\`, otherwise collect the output of the process that runs \`cloud-relay start\`.`
      : 'The relay logs JSON lines to its stdout: under systemd that is the journal (`journalctl -u cloud-relay`), in a container `docker logs <container>`, otherwise the output of the process that runs `cloud-relay start`.';
  return unavailable('logs.txt', `no relay log collected: ${j.why}.\n${where}`);
}

export function storeSection(dataDir: string): DiagFile {
  if (!existsSync(join(dataDir, DB_FILE))) return unavailable('store.unavailable.txt', `no database at ${join(dataDir, DB_FILE)}`);
  let db;
  try {
    db = openDb(dataDir, { readonly: true });
  } catch (err) {
    return unavailable('store.unavailable.txt', `cannot open the database in ${dataDir} read-only: ${errorMessage(err)}`);
  }
  try {
    return json('store.json', storeStats(db, dataDir), `store statistics of ${dataDir}`);
  } catch (err) {
    return unavailable('store.unavailable.txt', `cannot read store statistics: ${errorMessage(err)}`);
  } finally {
    db.close();
  }
}

/** The report `cloud-relay cert check` prints, for the configured PFX and for one installed later. */
export function certificateSection(
  cfg: Pick<RelayConfig, 'fqdn' | 'dataDir' | 'pfxFile' | 'pfxPassphrase'>,
  now = Date.now(),
  /** Opens the installed PFX's passphrase (sealed with the secrets key at rest). */
  openPassphrase: (stored: string) => string = (v) => v,
): DiagFile {
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
  if (installed)
    report(`installed PFX (${installed.origin}, ${installed.installedAt})`, () => ({
      data: Buffer.from(installed.pfx, 'base64'),
      passphrase: openPassphrase(installed.passphrase),
    }));
  if (parts.length === 0) parts.push('no PFX configured or installed: the relay serves a self-signed certificate phones will not trust (see status.json "cert")');
  return { name: 'certificate.txt', text: `${parts.join('\n\n')}\n`, state: 'ok', note: `certificate report for ${cfg.fqdn}` };
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
