import type { Db } from './db.js';

export interface CacheObjectRow {
  readonly sha256: string;
  readonly size: number;
  readonly createdAt: number;
  readonly lastAccess: number;
}

export interface PatternPathRow {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
  readonly updatedAt: number;
}

interface ObjectSql {
  sha256: string;
  size: number;
  created_at: number;
  last_access: number;
}

const toObject = (r: ObjectSql): CacheObjectRow => ({ sha256: r.sha256, size: r.size, createdAt: r.created_at, lastAccess: r.last_access });

/** The index of complete cache objects and of firmware paths filled on demand. */
export class CacheRepo {
  private readonly getObj;
  private readonly putObj;
  private readonly delObj;
  private readonly touchObj;
  private readonly allObj;
  private readonly totals;
  private readonly evictable;
  private readonly getPath;
  private readonly putPath;
  private readonly delPathsOf;

  constructor(private readonly db: Db) {
    this.getObj = db.prepare<[string], ObjectSql>('SELECT * FROM cache_objects WHERE sha256 = ?');
    this.putObj = db.prepare(
      'INSERT INTO cache_objects (sha256, size, created_at, last_access) VALUES (?, ?, ?, ?) ON CONFLICT(sha256) DO UPDATE SET size = excluded.size, last_access = excluded.last_access',
    );
    this.delObj = db.prepare('DELETE FROM cache_objects WHERE sha256 = ?');
    this.touchObj = db.prepare('UPDATE cache_objects SET last_access = ? WHERE sha256 = ?');
    this.allObj = db.prepare<[], ObjectSql>('SELECT * FROM cache_objects');
    this.totals = db.prepare<[], { objects: number; bytes: number | null }>('SELECT count(*) AS objects, sum(size) AS bytes FROM cache_objects');
    // Pinned = referenced by an image of the desired set.
    this.evictable = db.prepare<[], ObjectSql>(
      'SELECT o.* FROM cache_objects o WHERE NOT EXISTS (SELECT 1 FROM images i WHERE i.sha256 = o.sha256) ORDER BY o.last_access ASC LIMIT 256',
    );
    this.getPath = db.prepare<[string], { path: string; sha256: string; size: number; updated_at: number }>('SELECT * FROM cache_paths WHERE path = ?');
    this.putPath = db.prepare(
      'INSERT INTO cache_paths (path, sha256, size, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, updated_at = excluded.updated_at',
    );
    this.delPathsOf = db.prepare('DELETE FROM cache_paths WHERE sha256 = ?');
  }

  object(sha256: string): CacheObjectRow | undefined {
    const r = this.getObj.get(sha256);
    return r ? toObject(r) : undefined;
  }

  addObject(sha256: string, size: number, now: number): void {
    this.putObj.run(sha256, size, now, now);
  }

  touch(sha256: string, now: number): void {
    this.touchObj.run(now, sha256);
  }

  /** Forgets an object and every on-demand path pointing at it. */
  removeObject(sha256: string): void {
    this.db.transaction(() => {
      this.delPathsOf.run(sha256);
      this.delObj.run(sha256);
    })();
  }

  objects(): CacheObjectRow[] {
    return this.allObj.all().map(toObject);
  }

  usage(): { objects: number; bytes: number } {
    const r = this.totals.get();
    return { objects: r?.objects ?? 0, bytes: r?.bytes ?? 0 };
  }

  /** Unpinned objects, least recently used first. */
  evictionCandidates(): CacheObjectRow[] {
    return this.evictable.all().map(toObject);
  }

  patternPath(path: string): PatternPathRow | undefined {
    const r = this.getPath.get(path);
    return r ? { path: r.path, sha256: r.sha256, size: r.size, updatedAt: r.updated_at } : undefined;
  }

  setPatternPath(path: string, sha256: string, size: number, now: number): void {
    this.putPath.run(path, sha256, size, now);
  }
}
