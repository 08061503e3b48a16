import { chownSync, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand } from './command.js';
import { CONFIG_OPTION_HELP } from './command.js';
import { configOrExit } from './common.js';
import { resolveDataDir, secretsKeyFileOf } from './data-dir.js';
import { ExitCode, errorCode, errorMessage, RelayError } from '../errors.js';
import { acceptForInstall, inspectPfx } from '../tls/certificate-manager.js';
import { formatReport } from '../tls/validate.js';
import { PEM_TO_PFX_COMMAND } from '../tls/pfx.js';
import { CertificateRejected, PfxLoadError, type CertProblem } from '../tls/errors.js';
import { installedPath, writeInstalled } from '../tls/cert-files.js';
import { DB_FILE, openDb } from '../store/db.js';
import { SecretBox, keySource, loadKey } from '../store/secret-box.js';
import { registerSecrets, secretsOf } from '../store/secrets.js';

const USAGE = `cloud-relay cert check FILE --fqdn NAME [--passphrase-file F]
       cloud-relay cert install FILE [--config FILE] [--passphrase-file F] [--fqdn NAME] [--data-dir DIR]
${CONFIG_OPTION_HELP}
  --fqdn NAME          the relay's name phones use (install: default from the config)
  --passphrase-file F  file holding the PFX passphrase (else $CLOUD_RELAY_PFX_PASSPHRASE, else empty)
  --data-dir DIR       where install puts the certificate (default: from the config)

check prints the certificate report and exits 0 only when the PFX is valid for NAME
(1 when it is not, 66 when the file cannot be read). A PEM certificate is not a PFX: make one with
  ${PEM_TO_PFX_COMMAND}
install validates, stores the PFX (0600) in the data dir with its passphrase sealed by the
relay's secrets key (secretsKeyFile from --config, else <data dir>-keys/secrets.key), and a
running relay swaps it in within a few seconds without dropping connections; an invalid PFX is
refused, and so is an install whose passphrase cannot be sealed (nothing is written then).`;

/** A file that cannot be read, in the words of the certificate problem catalogue instead of a raw errno. */
function unreadable(file: string, err: unknown): CertProblem {
  const code = errorCode(err);
  if (code === 'ENOENT') return { code: 'PFX_FILE_NOT_FOUND', message: `file not found: ${file} (check the path; the relay takes a PFX/PKCS#12 file)` };
  if (code === 'EACCES' || code === 'EPERM') return { code: 'PFX_FILE_UNREADABLE', message: `permission denied reading ${file} (run as a user who may read it)` };
  if (code === 'EISDIR') return { code: 'PFX_FILE_UNREADABLE', message: `${file} is a directory, not a PFX file` };
  return { code: 'PFX_FILE_UNREADABLE', message: `cannot read ${file}: ${errorMessage(err)}` };
}

/**
 * The box that seals the passphrase: the relay's own key, never one it would not open. With a
 * database (the relay has run) the key must be the one the database knows; before the first
 * start the key the relay will use is created here, owned like the data directory (install
 * may run as root for a service user).
 */
function passphraseBox(dataDir: string, keyFile: string | undefined): SecretBox {
  const source = keySource(dataDir, keyFile);
  if (existsSync(join(dataDir, DB_FILE))) {
    const db = openDb(dataDir, { secretsKeyFile: keyFile });
    try {
      registerSecrets(db, source, false);
      return secretsOf(db);
    } finally {
      db.close();
    }
  }
  const created = !existsSync(source.path);
  const box = new SecretBox(loadKey(source, { get: () => undefined, set: () => undefined }, { create: true }));
  if (created && process.getuid?.() === 0 && existsSync(dataDir)) {
    const owner = statSync(dataDir);
    chownSync(dirname(source.path), owner.uid, owner.gid);
    chownSync(source.path, owner.uid, owner.gid);
  }
  return box;
}

function passphrase(file: string | undefined): string {
  if (file) return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  return process.env.CLOUD_RELAY_PFX_PASSPHRASE ?? '';
}

export const command: CliCommand = {
  name: 'cert',
  summary: 'check or install the phone-facing PFX certificate',
  usage: USAGE,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { fqdn: { type: 'string' }, 'passphrase-file': { type: 'string' }, config: { type: 'string' }, 'data-dir': { type: 'string' } },
    });
    const [sub, file] = positionals;
    if ((sub !== 'check' && sub !== 'install') || !file) {
      console.error(`cloud-relay cert: expected "check FILE" or "install FILE"\nUsage: ${USAGE}`);
      return ExitCode.USAGE;
    }
    let fqdn = values.fqdn;
    let dataDir: string | undefined;
    if (sub === 'install') {
      if (!fqdn || !values['data-dir']) {
        const cfg = configOrExit(values.config);
        if (typeof cfg === 'number') return cfg;
        fqdn ??= cfg.fqdn;
      }
      const dir = await resolveDataDir(values);
      if (typeof dir === 'number') return dir;
      dataDir = dir.dir;
    }
    if (!fqdn) {
      console.error('cloud-relay cert check: --fqdn NAME is required (the name phones use to reach the relay)');
      return ExitCode.USAGE;
    }
    let data: Buffer;
    let pass: string;
    try {
      data = readFileSync(file);
    } catch (err) {
      const problem = unreadable(file, err);
      console.log(`file        ${file}\nresult      INVALID\n  ${problem.code}: ${problem.message}`);
      return ExitCode.NO_INPUT;
    }
    try {
      pass = passphrase(values['passphrase-file']);
    } catch (err) {
      console.error(`cloud-relay cert: --passphrase-file ${values['passphrase-file'] ?? ''}: ${unreadable(values['passphrase-file'] ?? '', err).message}`);
      return ExitCode.NO_INPUT;
    }
    let checked;
    try {
      checked = inspectPfx(data, pass, fqdn, Date.now());
    } catch (err) {
      if (err instanceof PfxLoadError) {
        // The command on a line of its own, ready to copy.
        console.log(`file        ${file}\nresult      INVALID\n  ${err.code}: ${err.message.replace(`with: ${PEM_TO_PFX_COMMAND}`, `with:\n    ${PEM_TO_PFX_COMMAND}`)}`);
        return ExitCode.FAILURE;
      }
      throw err;
    }
    console.log(`file        ${file}\n${formatReport(checked.report, fqdn)}`);
    try {
      // The daemon's own acceptance test, so install never stores a PFX the relay would then refuse.
      acceptForInstall(checked);
    } catch (err) {
      // A CertificateRejected's problems are in the report above already.
      if (!(err instanceof CertificateRejected)) console.log(`result      INVALID\n  OpenSSL cannot use this key and chain: ${errorMessage(err)}`);
      if (sub === 'install') console.error('cloud-relay cert install: refused; the current certificate stays');
      return ExitCode.FAILURE;
    }
    if (sub === 'check') return ExitCode.OK;
    const keyFile = secretsKeyFileOf(values);
    if (typeof keyFile === 'number') return keyFile;
    let sealed: string;
    try {
      sealed = passphraseBox(dataDir!, keyFile).seal(pass);
    } catch (err) {
      console.error(
        `cloud-relay cert install: refused, nothing was stored: the passphrase cannot be sealed with the relay's secrets key (${errorCode(err) ?? 'error'}: ${errorMessage(err)}). ` +
          "Run it where the relay's key is readable (--config FILE names secretsKeyFile; under systemd with LoadCredential the key is the unit's), or send the certificate through the DMS (cert.install)",
      );
      return ExitCode.CONFIG;
    }
    try {
      writeInstalled(dataDir!, { pfx: data.toString('base64'), passphrase: sealed, installedAt: new Date().toISOString(), origin: 'cli' });
    } catch (err) {
      console.error(`cloud-relay cert install: cannot store the certificate in ${dataDir!}: ${err instanceof RelayError ? err.message : errorMessage(err)}`);
      return ExitCode.CANT_CREATE;
    }
    console.log(`installed   ${installedPath(dataDir!)} (0600, passphrase sealed); a running relay swaps it in within a few seconds`);
    return ExitCode.OK;
  },
};
