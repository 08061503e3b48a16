import { parseArgs } from 'node:util';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { create as createTar } from 'tar';
import type { CliCommand } from './command.js';
import { CONFIG_OPTION_HELP } from './command.js';
import { adminBase } from './common.js';
import { loadConfig } from '../config/load.js';
import { parseListen } from '../config/listen.js';
import { ConfigError, ExitCode, errorMessage } from '../errors.js';
import { readInstalled } from '../tls/cert-files.js';
import { DB_FILE, openDb } from '../store/db.js';
import { KvStore } from '../store/kv.js';
import { RegistrationRepository } from '../store/registration.js';
import { certificateSection, configSection, daemonSections, logsSection, scrubSecrets, storeSection, versionsSection, type DiagFile } from './diag-sections.js';

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
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

export const command: CliCommand = {
  name: 'diag',
  summary: 'write a support bundle (.tar.gz): redacted config, logs, store statistics, certificate report, versions',
  usage:
    `cloud-relay diag [--config FILE] [--output FILE] [--admin HOST:PORT] [--log-lines N]\n${CONFIG_OPTION_HELP}\n` +
    '  --output FILE     where to write the bundle (default: ./cloud-relay-diag-<host>-<time>.tar.gz)\n' +
    '  --admin HOST:PORT admin address of the running relay (default: from config)\n' +
    '  --log-lines N     journal lines to include (default 2000)\n\n' +
    'Secrets (PIN, passphrases) are never written to the bundle. Sections that cannot be\n' +
    'gathered (relay not running, no journal) are included as a note saying why.\n' +
    'Exit codes: 0 written, 64 bad usage, 73 the bundle could not be written.',
  async run(args) {
    const { values } = parseArgs({ args, options: { config: { type: 'string' }, output: { type: 'string' }, admin: { type: 'string' }, 'log-lines': { type: 'string' } } });
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

    const files: DiagFile[] = [versionsSection(), configSection(cfg), ...(await daemonSections(adminBase({ adminListen: listen }))), await logsSection(logLines)];
    const secrets: (string | undefined)[] = [];
    if (typeof cfg !== 'string') {
      files.push(storeSection(cfg.dataDir), certificateSection(cfg));
      secrets.push(cfg.pin, cfg.pfxPassphrase, ...storedSecrets(cfg.dataDir));
      try {
        secrets.push(readInstalled(cfg.dataDir)?.passphrase);
      } catch {
        // unreadable: nothing of it can be in the bundle either
      }
    }
    const now = new Date();
    const index = ['cloud-relay support bundle', `created ${now.toISOString()} on ${hostname()}`, '', ...files.map((f) => `${f.ok ? 'ok     ' : 'MISSING'} ${f.name}`), ''].join('\n');
    const all = scrubSecrets([{ name: 'INDEX.txt', text: index, ok: true }, ...files], secrets);

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
    console.log(index.split('\n').slice(3).filter((l) => l !== '').join('\n'));
    console.log(`wrote ${output} (${statSync(output).size} bytes)`);
    return ExitCode.OK;
  },
};

