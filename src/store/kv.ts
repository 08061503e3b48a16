import type { Db } from './db-handle.js';

/** Small typed settings the relay keeps between runs (relayId, token, counters). */
export class KvStore {
  private readonly getStmt;
  private readonly setStmt;
  private readonly delStmt;

  constructor(db: Db) {
    this.getStmt = db.prepare<[string], { value: string }>('SELECT value FROM kv WHERE key = ?');
    this.setStmt = db.prepare('INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at');
    this.delStmt = db.prepare('DELETE FROM kv WHERE key = ?');
  }

  get(key: string): string | undefined {
    return this.getStmt.get(key)?.value;
  }

  getJson<T>(key: string): T | undefined {
    const v = this.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }

  set(key: string, value: string): void {
    this.setStmt.run(key, value, Date.now());
  }

  setJson(key: string, value: unknown): void {
    this.set(key, JSON.stringify(value));
  }

  delete(key: string): void {
    this.delStmt.run(key);
  }

  /** A real write, so readiness proves the disk takes data (not just that the file opened). */
  probeWritable(): void {
    this.set('probe.writable', String(Date.now()));
  }
}
