import type { CliCommand } from './command.js';
import { CONFIG_OPTION_HELP } from './command.js';
import { DATA_DIR_OPTION_HELP, existingDbDir, parseStoreCommand, secretsKeyFileOf } from './data-dir.js';
import { ExitCode, errorMessage } from '../errors.js';
import { checkDb, type DbCheck } from '../store/db-check.js';
import { openDb } from '../store/db.js';
import { keySource } from '../store/secret-box.js';
import { forgetSecrets } from '../store/secrets.js';
import { isSealed } from '../store/secret-box.js';
import { installedPath, readInstalled } from '../tls/cert-files.js';
import { rmSync } from 'node:fs';

const USAGE = `cloud-relay db check [--json]
       cloud-relay db forget-secrets
${CONFIG_OPTION_HELP}
${DATA_DIR_OPTION_HELP}

check: full integrity check, applied and pending migrations, file sizes, and whether the
secrets key fits the database; exits 0 when all is well, 1 otherwise. Read-only.
forget-secrets: when the secrets key is lost for good, makes the database forget it (run with
the relay stopped); the next start creates a new key. Tasks still holding sealed passwords fail
with SECRETS_UNREADABLE; the DMS resends what it needs. The installed PFX (its passphrase is
sealed with the same key) is removed: install the certificate again.`;

function mb(n: number | null): string {
  return n === null ? 'absent' : `${(n / 1024 / 1024).toFixed(2)} MB`;
}

function print(c: DbCheck): void {
  console.log(`database   ${c.file}`);
  console.log(
    `files      ${Object.entries(c.files)
      .map(([k, v]) => `${k} ${mb(v)}`)
      .join(', ')}`,
  );
  if (c.pageBytes !== null) console.log(`pages      ${mb(c.pageBytes)} in use, ${c.freePages ?? 0} free pages`);
  console.log(`integrity  ${c.integrity.length === 0 ? 'not checked' : c.integrity.join('\n           ')}`);
  if (c.migrations) {
    const m = c.migrations;
    console.log(
      `migrations applied ${m.applied.join(', ') || 'none'}; this build knows up to ${m.known}${m.pending.length ? `; pending (run at the next start): ${m.pending.join(', ')}` : ''}`,
    );
  }
  const s = c.secrets;
  console.log(
    `secrets    key ${s.keyFile} (${s.source}) ${s.present ? 'present' : 'absent'}; ${s.sealedWith ? `database sealed with key ${s.sealedWith}${s.matches === true ? ' (matches)' : ''}` : 'nothing sealed yet'}`,
  );
  console.log(c.ok ? 'result     ok' : `result     PROBLEMS:\n${c.problems.map((p) => `  - ${p}`).join('\n')}`);
}

export const command: CliCommand = {
  name: 'db',
  summary: 'check the relay database, or forget a lost secrets key',
  usage: USAGE,
  async run(args) {
    const parsed = parseStoreCommand('db', args, ['check', 'forget-secrets'] as const, USAGE);
    if (typeof parsed === 'number') return parsed;
    const { values, sub } = parsed;
    const dir = await existingDbDir(values);
    if (typeof dir === 'number') return dir;
    const keyFile = secretsKeyFileOf(values);
    if (typeof keyFile === 'number') return keyFile;
    if (sub === 'check') {
      const c = checkDb(dir, keySource(dir, keyFile));
      if (values.json) console.log(JSON.stringify(c));
      else print(c);
      return c.ok ? ExitCode.OK : ExitCode.FAILURE;
    }
    try {
      const db = openDb(dir, { secretsKeyFile: keyFile });
      try {
        const r = forgetSecrets(db);
        console.log(
          `the database no longer expects its old secrets key; ${r.frames} stored frame(s) waiting for it were refused and ${r.rolloutDevices} rollout device(s) lost their sealed password (they fail with SECRETS_UNREADABLE). The next start creates a new key.`,
        );
        // The installed PFX's passphrase was sealed with the same key: without it the file is useless.
        const installed = readInstalled(dir);
        if (installed && isSealed(installed.passphrase)) {
          rmSync(installedPath(dir), { force: true });
          console.log(
            `removed ${installedPath(dir)}: its passphrase was sealed with the lost key. The relay serves the configured pfxFile (or a self-signed stand-in) until the certificate is installed again (\`cloud-relay cert install\` or from the DMS).`,
          );
        }
      } finally {
        db.close();
      }
      return ExitCode.OK;
    } catch (err) {
      console.error(`cloud-relay db forget-secrets: ${errorMessage(err)}`);
      return ExitCode.FAILURE;
    }
  },
};
