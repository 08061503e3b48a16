import Database from 'better-sqlite3';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { StoreError, errorMessage } from '../errors.js';
import { migrations, type Migration } from './migrations/index.js';
import { keySource } from './secret-box.js';
import { registerSecrets } from './secrets.js';
import { timeouts } from '../core/timeouts.js';

export type { Db } from './db-handle.js';
import type { Db } from './db-handle.js';

export const DB_FILE = 'relay.db';

/** Creates the data dir private to the service user: it holds tokens, keys and the PIN. */
export function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
  } catch (err) {
    throw new StoreError('DATA_DIR_UNUSABLE', `data directory ${dir} cannot be created or secured: ${errorMessage(err)}`, { cause: err });
  }
}

export function runMigrations(db: Db, list: readonly Migration[] = migrations): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT');
  const applied = new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
  const newest = Math.max(0, ...applied);
  const known = Math.max(0, ...list.map((m) => m.version));
  if (newest > known) {
    throw new StoreError('DB_TOO_NEW', `the database was migrated by a newer cloud-relay (schema ${newest}, this build knows ${known}); upgrade the relay or restore a backup`);
  }
  let ran = 0;
  for (const m of [...list].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      if (m.sql.trim() !== '') db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    })();
    ran++;
  }
  return ran;
}

/** Opens (creating if needed) the relay database in WAL mode and brings its schema up to date. */
export interface OpenDbOptions {
  readonly readonly?: boolean;
  /** Where the key sealing stored secrets lives (default: systemd credential, else `<dataDir>-keys/secrets.key`). */
  readonly secretsKeyFile?: string | undefined;
}

export function openDb(dataDir: string, options: OpenDbOptions = {}): Db {
  ensurePrivateDir(dataDir);
  const file = join(dataDir, DB_FILE);
  let db: Db;
  try {
    db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  } catch (err) {
    throw new StoreError('DB_OPEN_FAILED', `cannot open the database in ${dataDir}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      // NORMAL is durable across process crashes in WAL mode; only power loss can lose the last commit.
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.pragma(`busy_timeout = ${timeouts.dbBusy.ms}`);
      // Deleted and overwritten rows are zeroed, so a dropped secret does not linger in free pages.
      db.pragma('secure_delete = ON');
      // A damaged file is found now, with a way out, not as odd failures in the middle of work.
      const check = db.pragma('quick_check(5)', { simple: true });
      if (check !== 'ok') throw new StoreError('DB_CORRUPT', corruptMessage(file, String(check)));
      runMigrations(db);
    }
  } catch (err) {
    db.close();
    if (err instanceof StoreError) throw err;
    if (isCorruption(err)) throw new StoreError('DB_CORRUPT', corruptMessage(file, errorMessage(err)), { cause: err });
    throw err;
  }
  registerSecrets(db, keySource(dataDir, options.secretsKeyFile), !(options.readonly ?? false));
  return db;
}

/** SQLite's own words for a file that is not (or no longer) a sound database. */
export function isCorruption(err: unknown): boolean {
  if (err instanceof StoreError) return err.code === 'DB_CORRUPT';
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  return code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB';
}

export function corruptMessage(file: string, detail: string): string {
  return (
    `database file ${file} is damaged (${detail}). Run \`cloud-relay db check\` for details. To recover: stop the relay, ` +
    `move ${file} and its -wal/-shm files aside (keep them for support), then restore them from a backup or start ` +
    'without them: the relay creates an empty database, and the DMS resends tasks and images after it registers again ' +
    '(run `cloud-relay register` first if the tenant ID and PIN were stored with it rather than in the config)'
  );
}
