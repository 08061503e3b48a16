import { parseArgs } from 'node:util';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { create as createTar } from 'tar';
import type { CliCommand } from './command.js';
import { CONFIG_OPTION_HELP } from './command.js';
import { adminBase, fetchRelayConfig } from './common.js';
import { loadConfig } from '../config/load.js';
import { parseListen } from '../config/listen.js';
import { ConfigError, ExitCode, errorMessage } from '../errors.js';
import { readInstalled } from '../tls/cert-files.js';
import { DB_FILE, openDb } from '../store/db.js';
import { KvStore } from '../store/kv.js';
import { isSealed } from '../store/secret-box.js';
import { secretsOf } from '../store/secrets.js';
import { RegistrationRepository } from '../store/registration.js';
import { certificateSection, configSection, daemonSections, logsSection, scrubSecrets, storeSection, versionsSection, type DiagFile } from './diag-sections.js';
import { proxySecrets } from '../dms/outbound-proxy.js';

function stamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** The PIN stored by `cloud-relay register` (it wins over the config's, so it is the one in use) and the DMS token. */
function storedSecrets(dataDir: string): (string | undefined)[] {
  if (!existsSync(join(dataDir, DB_FILE))) return [];
  try {
    const db = openDb(dataDir, { readonly: true });
    try {
      const repo = new RegistrationRepository(new KvStore(db));
      return [repo.credentials()?.pin, repo.load()?.token];
    } finally {
      db.close();
    }
  } catch {
    // unreadable: nothing of it can be in the bundle either
    return [];
  }
}

/** A value sealed with the store's secrets key, opened (the installed PFX's passphrase); throws when the key is not at hand. */
function openSealed(dataDir: string, secretsKeyFile: string | undefined, value: string): string {
  if (!isSealed(value)) return value;
  const db = openDb(dataDir, { readonly: true, secretsKeyFile });
  try {
    return secretsOf(db).open(value);
  } finally {
    db.close();
  }
}

/** How INDEX.txt lists one file: its state, its name, and what it holds or why it is not there. */
function indexLine(f: DiagFile): string {
  return `${f.state.padEnd(12)}${f.name}${f.note ? `  (${f.note})` : ''}`;
}

export const command: CliCommand = {
  name: 'diag',
  summary: 'write a support bundle (.tar.gz): redacted config, logs, store statistics, certificate report, versions',
  usage:
    `cloud-relay diag [--config FILE] [--data-dir DIR] [--output FILE] [--admin HOST:PORT] [--log-lines N]\n${CONFIG_OPTION_HELP}\n` +
    "  --data-dir DIR    the relay's data directory, for store statistics and the certificate report\n" +
    "                    (default: --config's dataDir, else the running relay's, else this shell's config)\n" +
    '  --output FILE     where to write the bundle (default: ./cloud-relay-diag-<host>-<time>.tar.gz)\n' +
    '  --admin HOST:PORT admin address of the running relay (default: from config, else 127.0.0.1:9090)\n' +
    '  --log-lines N     log lines to include (default 2000)\n\n' +
    'The log comes from the file the running relay names on its admin port, else the journal\n' +
    '(unit cloud-relay). Secrets (PIN, passphrases, token) are never written to the bundle.\n' +
    'INDEX.txt labels each file: ok; problems (present, lists problems found); unavailable\n' +
    '(could not be gathered: the file says why).\n' +
    'Exit codes: 0 written, 64 bad usage, 73 the bundle could not be written.',
  async run(args) {
    const { values } = parseArgs({
      args,
      options: { config: { type: 'string' }, 'data-dir': { type: 'string' }, output: { type: 'string' }, admin: { type: 'string' }, 'log-lines': { type: 'string' } },
    });
    const logLines = values['log-lines'] === undefined ? 2000 : Number(values['log-lines']);
    if (!Number.isInteger(logLines) || logLines < 1 || logLines > 1_000_000) {
      console.error('cloud-relay diag: --log-lines must be a whole number from 1 to 1000000');
      return ExitCode.USAGE;
    }
    // A broken config is exactly when support needs a bundle: record the problems, go on.
    let cfg: ReturnType<typeof loadConfig> | string;
    try {
      cfg = loadConfig({ file: values.config });
    } catch (err) {
      cfg = err instanceof ConfigError ? err.message : `cannot load the configuration: ${errorMessage(err)}`;
    }
    let listen = typeof cfg === 'string' ? { host: '127.0.0.1', port: 9090 } : cfg.adminListen;
    if (values.admin) {
      const a = parseListen(values.admin);
      if (typeof a === 'string') {
        console.error(`cloud-relay diag: --admin: ${a}`);
        return ExitCode.USAGE;
      }
      listen = a;
    }
    const base = adminBase({ adminListen: listen });
    const relay = await fetchRelayConfig(base);
    const relayDoc = relay.ok ? relay.doc : undefined;
    // An explicit --config is what the admin asks about; otherwise the running relay is the truth.
    const local = typeof cfg === 'string' ? undefined : cfg;
    const explicit = values.config !== undefined;
    const dataDir = values['data-dir'] ?? (explicit ? local?.dataDir : undefined) ?? relayDoc?.dataDir ?? local?.dataDir;
    const setting = (path: string): unknown => relayDoc?.settings.find((x) => x.path === path)?.value;
    const fqdn = (explicit ? local?.fqdn : undefined) ?? (typeof setting('fqdn') === 'string' ? (setting('fqdn') as string) : local?.fqdn);
    const pfxFile = (explicit || !relayDoc ? local?.pfxFile : typeof setting('pfxFile') === 'string' ? (setting('pfxFile') as string) : undefined) ?? undefined;

    const files: DiagFile[] = [
      versionsSection(),
      explicit || !relayDoc ? configSection(cfg) : configSection(cfg, { base, doc: { from: `the relay answering at ${base}`, ...relayDoc } }),
      ...(await daemonSections(base)),
      await logsSection(logLines, relayDoc),
    ];
    const secrets: (string | undefined)[] = [];
    if (local) secrets.push(local.pin, local.pfxPassphrase, ...proxySecrets(local.outboundProxy, local.proxyEnvironment ?? {}));
    if (dataDir) {
      files.push(storeSection(dataDir));
      files.push(
        fqdn
          ? certificateSection({ fqdn, dataDir, pfxFile, pfxPassphrase: local?.pfxPassphrase ?? process.env.CLOUD_RELAY_PFX_PASSPHRASE }, Date.now(), (v) =>
              openSealed(dataDir, local?.secretsKeyFile, v),
            )
          : {
              name: 'certificate.unavailable.txt',
              text: 'no fqdn known: pass --config FILE or --admin HOST:PORT of the running relay\n',
              state: 'unavailable',
              note: 'no fqdn known',
            },
      );
      secrets.push(...storedSecrets(dataDir));
      try {
        const stored = readInstalled(dataDir)?.passphrase;
        secrets.push(stored);
        if (stored !== undefined) secrets.push(openSealed(dataDir, local?.secretsKeyFile, stored));
      } catch {
        // unreadable: nothing of it can be in the bundle either
      }
    } else {
      const why = 'no data directory known: pass --data-dir DIR, --config FILE, or --admin HOST:PORT of the running relay';
      files.push(
        { name: 'store.unavailable.txt', text: `${why}\n`, state: 'unavailable', note: why },
        { name: 'certificate.unavailable.txt', text: `${why}\n`, state: 'unavailable', note: why },
      );
    }
    secrets.push(process.env.CLOUD_RELAY_PFX_PASSPHRASE, process.env.CLOUD_RELAY_PIN, ...proxySecrets({}, process.env));
    const now = new Date();
    const index = ['cloud-relay support bundle', `created ${now.toISOString()} on ${hostname()}`, '', ...files.map(indexLine), ''].join('\n');
    const all = scrubSecrets([{ name: 'INDEX.txt', text: index, state: 'ok' }, ...files], secrets);

    const output = resolve(values.output ?? `cloud-relay-diag-${hostname()}-${stamp(now)}.tar.gz`);
    const work = mkdtempSync(join(tmpdir(), 'cloud-relay-diag-'));
    const folder = `cloud-relay-diag-${stamp(now)}`;
    try {
      const dir = join(work, folder);
      mkdirSync(dir, { mode: 0o700 });
      for (const f of all) writeFileSync(join(dir, f.name), f.text, { mode: 0o600 });
      await createTar({ gzip: true, file: output, cwd: work, portable: true }, [folder]);
      chmodSync(output, 0o600);
    } catch (err) {
      console.error(`cloud-relay diag: cannot write ${output}: ${errorMessage(err)}`);
      return ExitCode.CANT_CREATE;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    console.log(
      all[0]!.text
        .split('\n')
        .slice(3)
        .filter((l) => l !== '')
        .join('\n'),
    );
    console.log(`wrote ${output} (${statSync(output).size} bytes)`);
    return ExitCode.OK;
  },
};
