import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from './db.js';
import { DB_FILE } from './db.js';

export interface StoreStats {
  /** Rows per table, by table name (SQLite's internal tables left out). */
  readonly tables: Record<string, number>;
  readonly schemaVersion: number;
  /** Bytes of the main file, the write-ahead log and the shared-memory index. */
  readonly files: Record<string, number | null>;
  readonly pageBytes: number;
  readonly freePages: number;
}

/** What a support engineer asks first about the store: how big, how full, which schema. */
export function storeStats(db: Db, dataDir: string): StoreStats {
  const names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[];
  const tables: Record<string, number> = {};
  for (const name of names) {
    // Table names come from sqlite_master itself; quoting keeps odd names intact.
    tables[name] = db
      .prepare(`SELECT count(*) FROM "${name.replace(/"/g, '""')}"`)
      .pluck()
      .get() as number;
  }
  const schemaVersion = names.includes('schema_migrations') ? ((db.prepare('SELECT max(version) FROM schema_migrations').pluck().get() as number | null) ?? 0) : 0;
  const files: Record<string, number | null> = {};
  for (const suffix of ['', '-wal', '-shm']) {
    try {
      files[`${DB_FILE}${suffix}`] = statSync(join(dataDir, `${DB_FILE}${suffix}`)).size;
    } catch {
      files[`${DB_FILE}${suffix}`] = null;
    }
  }
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const pageCount = db.pragma('page_count', { simple: true }) as number;
  const freePages = db.pragma('freelist_count', { simple: true }) as number;
  return { tables, schemaVersion, files, pageBytes: pageSize * pageCount, freePages };
}
