import Database from 'better-sqlite3';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DB_FILE, isCorruption } from './db.js';
import { migrations } from './migrations/index.js';
import { keyIdOf, parseKey, type KeySource } from './secret-box.js';
import { errorMessage } from '../errors.js';

export interface DbCheck {
  readonly file: string;
  readonly ok: boolean;
  readonly files: Record<string, number | null>;
  readonly pageBytes: number | null;
  readonly freePages: number | null;
  /** "ok", or SQLite's integrity_check findings (at most 20). */
  readonly integrity: string[];
  readonly migrations: { readonly applied: number[]; readonly known: number; readonly pending: number[]; readonly newer: boolean } | null;
  readonly secrets: {
    readonly keyFile: string;
    readonly source: KeySource['kind'];
    readonly present: boolean;
    readonly sealedWith: string | null;
    readonly matches: boolean | null;
    readonly problem: string | null;
  };
  readonly problems: string[];
}

/**
 * What `cloud-relay db check` reports: the file's integrity (full integrity_check), which
 * migrations are applied, sizes, and whether the secrets key fits the database. It only
 * reads: a damaged file is described, never "repaired".
 */
export function checkDb(dataDir: string, key: KeySource): DbCheck {
  const file = join(dataDir, DB_FILE);
  const files: Record<string, number | null> = {};
  for (const suffix of ['', '-wal', '-shm']) files[`${DB_FILE}${suffix}`] = existsSync(file + suffix) ? statSync(file + suffix).size : null;
  const problems: string[] = [];
  let integrity: string[] = [];
  let pageBytes: number | null = null;
  let freePages: number | null = null;
  let mig: DbCheck['migrations'] = null;
  let sealedWith: string | null = null;
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    integrity = (db.pragma('integrity_check(20)') as { integrity_check: string }[]).map((r) => r.integrity_check);
    if (integrity.join() !== 'ok') problems.push(`integrity_check found ${integrity.length} problem(s)`);
    pageBytes = (db.pragma('page_size', { simple: true }) as number) * (db.pragma('page_count', { simple: true }) as number);
    freePages = db.pragma('freelist_count', { simple: true }) as number;
    const applied = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all() as number[];
    const known = Math.max(...migrations.map((m) => m.version));
    const pending = migrations.map((m) => m.version).filter((v) => !applied.includes(v));
    const newer = applied.some((v) => v > known);
    if (newer) problems.push(`schema ${Math.max(...applied)} is newer than this build knows (${known})`);
    mig = { applied, known, pending, newer };
    sealedWith = (db.prepare("SELECT value FROM kv WHERE key = 'secrets.keyId'").pluck().get() as string | undefined) ?? null;
  } catch (err) {
    problems.push(isCorruption(err) ? `the file is not a readable SQLite database: ${errorMessage(err)}` : `cannot read the database: ${errorMessage(err)}`);
  } finally {
    db?.close();
  }
  const present = existsSync(key.path);
  let matches: boolean | null = null;
  let keyProblem: string | null = null;
  if (present) {
    try {
      const id = keyIdOf(parseKey(readFileSync(key.path), key.path));
      matches = sealedWith === null ? null : id === sealedWith;
      if (matches === false) keyProblem = `key file holds key ${id}, the database's secrets are sealed with ${sealedWith}`;
    } catch (err) {
      keyProblem = errorMessage(err);
    }
  } else if (sealedWith !== null) keyProblem = `key file is missing; the database's secrets are sealed with key ${sealedWith}`;
  if (keyProblem) problems.push(`secrets: ${keyProblem}`);
  return {
    file,
    ok: problems.length === 0,
    files,
    pageBytes,
    freePages,
    integrity,
    migrations: mig,
    secrets: { keyFile: key.path, source: key.kind, present, sealedWith, matches, problem: keyProblem },
    problems,
  };
}
