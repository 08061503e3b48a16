import type { Db } from './db.js';

export type ImageState = 'pending' | 'syncing' | 'synced' | 'failed';

export interface ImageRow {
  readonly imageId: string;
  readonly vendor: string;
  readonly models: readonly string[];
  readonly version: string;
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly url: string;
  readonly state: ImageState;
  readonly bytes: number;
  readonly reason: string | null;
  readonly updatedAt: number;
}

export type ImageSpec = Pick<ImageRow, 'imageId' | 'vendor' | 'models' | 'version' | 'path' | 'size' | 'sha256' | 'url'>;

interface ImageSql {
  image_id: string;
  vendor: string;
  models: string;
  version: string;
  path: string;
  size: number;
  sha256: string;
  url: string;
  state: ImageState;
  bytes: number;
  reason: string | null;
  updated_at: number;
}

const toRow = (r: ImageSql): ImageRow => ({
  imageId: r.image_id,
  vendor: r.vendor,
  models: JSON.parse(r.models) as string[],
  version: r.version,
  path: r.path,
  size: r.size,
  sha256: r.sha256,
  url: r.url,
  state: r.state,
  bytes: r.bytes,
  reason: r.reason,
  updatedAt: r.updated_at,
});

/**
 * The image paths of the desired set, per database, shared by every ImagesRepo on it (the
 * cache and the download agent each hold one). The phone port asks `byPath` for every
 * request, nearly all of them provisioning files that are no image: a Set answers those
 * without a SQLite read. It may hold a path too many (never one too few), so a hit is
 * still confirmed by the query.
 */
const imagePaths = new WeakMap<Db, Set<string>>();

/** The DMS's desired image set and each image's sync state. */
export class ImagesRepo {
  private readonly all;
  private readonly byId;
  private readonly byPathStmt;
  private readonly bySha;
  private readonly upsert;
  private readonly del;
  private readonly setStateStmt;
  private readonly counts;
  private readonly getCat;
  private readonly putCat;
  private readonly pathsStmt;
  private readonly paths: Set<string>;

  constructor(private readonly db: Db) {
    this.all = db.prepare<[], ImageSql>('SELECT * FROM images ORDER BY rowid');
    this.byId = db.prepare<[string], ImageSql>('SELECT * FROM images WHERE image_id = ?');
    this.byPathStmt = db.prepare<[string], ImageSql>('SELECT * FROM images WHERE path = ? LIMIT 1');
    this.bySha = db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM images WHERE sha256 = ?');
    // A changed sha256/size/url is a new download: state resets to pending.
    this.upsert = db.prepare(
      `INSERT INTO images (image_id, vendor, models, version, path, size, sha256, url, state, bytes, reason, updated_at)
       VALUES (@imageId, @vendor, @models, @version, @path, @size, @sha256, @url, 'pending', 0, NULL, @now)
       ON CONFLICT(image_id) DO UPDATE SET vendor = excluded.vendor, models = excluded.models, version = excluded.version,
         path = excluded.path, url = excluded.url,
         state = CASE WHEN images.sha256 = excluded.sha256 AND images.size = excluded.size THEN images.state ELSE 'pending' END,
         bytes = CASE WHEN images.sha256 = excluded.sha256 AND images.size = excluded.size THEN images.bytes ELSE 0 END,
         reason = CASE WHEN images.sha256 = excluded.sha256 AND images.size = excluded.size THEN images.reason ELSE NULL END,
         sha256 = excluded.sha256, size = excluded.size, updated_at = excluded.updated_at`,
    );
    this.del = db.prepare('DELETE FROM images WHERE image_id = ?');
    this.setStateStmt = db.prepare('UPDATE images SET state = ?, bytes = ?, reason = ?, updated_at = ? WHERE image_id = ?');
    this.counts = db.prepare<[], { state: ImageState; n: number }>('SELECT state, count(*) AS n FROM images GROUP BY state');
    this.getCat = db.prepare<[], { sync_window: string | null; fetched_at: number }>('SELECT sync_window, fetched_at FROM images_catalogue WHERE id = 1');
    this.putCat = db.prepare(
      'INSERT INTO images_catalogue (id, sync_window, fetched_at) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET sync_window = excluded.sync_window, fetched_at = excluded.fetched_at',
    );
    this.pathsStmt = db.prepare<[], string>('SELECT path FROM images').pluck();
    let paths = imagePaths.get(db);
    if (!paths) {
      paths = new Set(this.pathsStmt.all());
      imagePaths.set(db, paths);
    }
    this.paths = paths;
  }

  list(): ImageRow[] {
    return this.all.all().map(toRow);
  }

  get(imageId: string): ImageRow | undefined {
    const r = this.byId.get(imageId);
    return r ? toRow(r) : undefined;
  }

  byPath(path: string): ImageRow | undefined {
    if (!this.paths.has(path)) return undefined;
    const r = this.byPathStmt.get(path);
    return r ? toRow(r) : undefined;
  }

  isPinned(sha256: string): boolean {
    return (this.bySha.get(sha256)?.n ?? 0) > 0;
  }

  /**
   * Makes the stored set equal to `images` in one transaction; returns the ids that left
   * the set (their objects are unpinned by this).
   */
  replaceSet(images: readonly ImageSpec[], syncWindow: unknown, now: number): string[] {
    const removed = this.db.transaction(() => {
      const keep = new Set(images.map((i) => i.imageId));
      const removed = this.all
        .all()
        .map((r) => r.image_id)
        .filter((id) => !keep.has(id));
      for (const id of removed) this.del.run(id);
      for (const i of images) {
        this.upsert.run({
          imageId: i.imageId,
          vendor: i.vendor,
          models: JSON.stringify(i.models),
          version: i.version,
          path: i.path,
          size: i.size,
          sha256: i.sha256,
          url: i.url,
          now,
        });
      }
      this.putCat.run(syncWindow === null || syncWindow === undefined ? null : JSON.stringify(syncWindow), now);
      return removed;
    })();
    // Inside a caller's transaction the old paths stay too: that transaction may still roll back.
    if (!this.db.inTransaction) this.paths.clear();
    for (const path of this.pathsStmt.all()) this.paths.add(path);
    return removed;
  }

  setState(imageId: string, state: ImageState, bytes: number, reason: string | null, now: number): void {
    this.setStateStmt.run(state, bytes, reason, now, imageId);
  }

  counters(): Record<ImageState, number> {
    const out: Record<ImageState, number> = { pending: 0, syncing: 0, synced: 0, failed: 0 };
    for (const r of this.counts.all()) out[r.state] = r.n;
    return out;
  }

  catalogueFetchedAt(): number | undefined {
    return this.getCat.get()?.fetched_at;
  }

  catalogue(): { syncWindow: unknown; fetchedAt: number } | undefined {
    const r = this.getCat.get();
    return r ? { syncWindow: r.sync_window === null ? null : (JSON.parse(r.sync_window) as unknown), fetchedAt: r.fetched_at } : undefined;
  }
}
