import type { Dispatcher } from 'undici';
import cron, { type ScheduledTask } from 'node-cron';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../log.js';
import type { Outbox, RegistrationSource } from '../core/ports.js';
import type { ImageRow, ImagesRepo, ImageState } from '../store/images.js';
import { errorCode, errorMessage } from '../errors.js';
import { applyLimits, fetchCatalogue, syncWindowSchema, type Catalogue, type SyncWindow } from './catalogue.js';
import type { ImageCachePort } from '../core/image-cache.js';
import { nextOpening, windowCron, windowOpen } from './sync-window.js';
import { backoffDelay } from '../core/backoff.js';
import { timeouts } from '../core/timeouts.js';

export interface DownloadAgentOptions {
  readonly repo: ImagesRepo;
  readonly cache: ImageCachePort;
  readonly outbox: Outbox;
  readonly registration: RegistrationSource;
  readonly dmsUrl: string;
  readonly dispatcher: Dispatcher;
  readonly log: Logger;
  readonly clock: Clock;
  readonly periodicSyncMs: number;
  /** Images downloaded at once. */
  readonly concurrency?: number;
  /** First retry delay after a failed sync (doubles up to the periodic interval). */
  readonly retryBaseMs?: number;
  /** Report `syncing` progress every this many percent. */
  readonly progressStepPercent?: number;
  /** The DMS answered 401 to our bearer token (catalogue or image download). */
  readonly onUnauthorized?: (reason: string) => void;
}

export interface ImageView {
  imageId: string;
  path: string;
  version: string;
  size: number;
  sha256: string;
  state: ImageState | 'rejected';
  bytes: number;
  reason: string | null;
}

export interface AgentView {
  running: boolean;
  lastSyncAt: string | null;
  lastError: string | null;
  syncWindow: SyncWindow | null;
  windowOpen: boolean;
  nextWindowAt: string | null;
  images: ImageView[];
}

/**
 * Keeps the DMS's desired image set in the cache (PROTOCOL 5). Every trigger (start-up,
 * images.sync, heartbeat resync-images, the periodic timer, a window opening) only asks for
 * a run; runs never overlap and a request during a run causes exactly one more run.
 */
export class DownloadAgent {
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryN = 0;
  private cronTask: ScheduledTask | undefined;
  private cronExpr: string | undefined;
  private lastSyncAt: number | undefined;
  private lastError: string | undefined;
  private rejected: { imageId: string; path: string; size: number; sha256: string; version: string; reason: string }[] = [];
  /** Live byte counts of running downloads (the store is updated less often). */
  private readonly live = new Map<string, number>();
  private readonly reported = new Map<string, string>();

  constructor(private readonly o: DownloadAgentOptions) {}

  start(): void {
    this.timer = setInterval(() => this.requestSync('periodic'), this.o.periodicSyncMs);
    this.timer.unref();
    this.o.registration.onChange(() => this.requestSync('registered'));
    this.requestSync('start-up');
  }

  /** Schedules a sync; never waits for it (safe from frame handlers). */
  requestSync(reason: string): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.o.log.debug({ reason }, 'image sync requested');
    // Start on a later turn: callers may be inside a store transaction (frame handlers).
    this.running = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.loop(reason))
      .finally(() => {
        this.running = undefined;
      });
  }

  /** Resolves when no sync is running or queued (tests, drain). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    await this.cronTask?.destroy();
    this.cronTask = undefined;
  }

  counters(): { synced: number; syncing: number; failed: number } {
    const c = this.o.repo.counters();
    return { synced: c.synced, syncing: c.syncing, failed: c.failed + this.rejected.length };
  }

  view(): AgentView {
    const win = this.currentWindow();
    const now = this.o.clock.now();
    const next = win ? nextOpening(win, now) : undefined;
    const images: ImageView[] = this.o.repo.list().map((r) => ({
      imageId: r.imageId,
      path: r.path,
      version: r.version,
      size: r.size,
      sha256: r.sha256,
      state: r.state,
      bytes: r.state === 'synced' ? r.size : (this.live.get(r.imageId) ?? r.bytes),
      reason: r.reason,
    }));
    for (const r of this.rejected) images.push({ ...r, state: 'rejected', bytes: 0 });
    return {
      running: this.running !== undefined,
      lastSyncAt: this.lastSyncAt !== undefined ? new Date(this.lastSyncAt).toISOString() : null,
      lastError: this.lastError ?? null,
      syncWindow: win,
      windowOpen: windowOpen(win, now),
      nextWindowAt: next !== undefined ? new Date(next).toISOString() : null,
      images,
    };
  }

  private async loop(reason: string): Promise<void> {
    let why = reason;
    do {
      this.again = false;
      try {
        await this.runOnce(why);
      } catch (err) {
        this.lastError = errorMessage(err);
        this.o.log.error({ err: errorMessage(err), code: errorCode(err) }, 'image sync failed');
        if (errorCode(err) === 'CATALOGUE_UNAUTHORIZED') this.o.onUnauthorized?.('the image catalogue refused the token (401)');
        this.scheduleRetry();
      }
      why = 'requested during a sync';
    } while (this.again && !this.stopped);
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const base = this.o.retryBaseMs ?? timeouts.imageSyncRetry.ms;
    const delay = backoffDelay(this.retryN, base, this.o.periodicSyncMs, 'none');
    this.retryN = Math.min(this.retryN + 1, 20);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.requestSync('retry'), delay);
    this.retryTimer.unref();
  }

  private currentWindow(): SyncWindow | null {
    const w = this.o.repo.catalogue()?.syncWindow;
    const r = syncWindowSchema.nullable().safeParse(w ?? null);
    return r.success ? r.data : null;
  }

  private async runOnce(reason: string): Promise<void> {
    const reg = this.o.registration.current();
    if (!reg) {
      this.o.log.info({ reason }, 'image sync waits for registration');
      return;
    }
    const cat = await fetchCatalogue(this.o.dispatcher, this.o.dmsUrl, reg.relayId, reg.token);
    this.lastSyncAt = this.o.clock.now();
    this.lastError = undefined;
    this.applyCatalogue(cat);
    const win = cat.syncWindow;
    const now = this.o.clock.now();
    // Objects the cache already holds (e.g. filled by a phone) are synced without a download.
    for (const img of this.o.repo.list()) {
      if (img.state !== 'synced' && this.o.cache.has(img.sha256)) this.setState(img, 'synced', img.size, null);
    }
    const todo = this.o.repo.list().filter((i) => i.state !== 'synced');
    this.updateCron(win);
    if (todo.length > 0 && !windowOpen(win, now)) {
      const next = nextOpening(win, now);
      this.o.log.info({ reason, waiting: todo.length, nextWindowAt: next !== undefined ? new Date(next).toISOString() : null }, 'image downloads held until the sync window opens');
      return;
    }
    if (todo.length === 0) {
      this.retryN = 0;
      return;
    }
    this.o.log.info({ reason, images: todo.length }, 'syncing images');
    let failures = 0;
    const queue = [...todo];
    const worker = async () => {
      for (let img = queue.shift(); img !== undefined && !this.stopped; img = queue.shift()) {
        if (!(await this.download(img))) failures++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency ?? 2, queue.length) }, worker));
    if (failures > 0) this.scheduleRetry();
    else this.retryN = 0;
  }

  private applyCatalogue(cat: Catalogue): void {
    const limited = applyLimits(cat);
    const removed = this.o.repo.replaceSet(limited.accepted, cat.syncWindow, this.o.clock.now());
    for (const id of removed) {
      this.reported.delete(id);
      this.o.log.info({ imageId: id }, 'image left the desired set; its object is no longer pinned');
    }
    const rejected = [
      ...limited.rejected.map((r) => ({ imageId: r.image.imageId, path: r.image.path, size: r.image.size, sha256: r.image.sha256, version: r.image.version, reason: r.reason })),
      ...cat.invalid.filter((i) => i.imageId !== undefined).map((i) => ({ imageId: i.imageId as string, path: '', size: 0, sha256: '', version: '', reason: i.reason })),
    ];
    for (const r of cat.invalid.filter((i) => i.imageId === undefined))
      this.o.log.warn({ code: 'CATALOGUE_INVALID', reason: r.reason }, 'image catalogue entry without a readable imageId ignored');
    for (const r of rejected) {
      this.o.log.warn({ code: 'IMAGE_REJECTED', imageId: r.imageId, reason: r.reason }, 'image rejected');
      this.report(r.imageId, 'failed', 0, r.reason);
    }
    this.rejected = rejected;
  }

  /** Downloads one image; true when it ended synced. */
  private async download(img: ImageRow): Promise<boolean> {
    const stepPct = this.o.progressStepPercent ?? 25;
    let fill;
    try {
      fill = this.o.cache.fill({ sha256: img.sha256, size: img.size, url: img.url });
    } catch (err) {
      this.setState(img, 'failed', 0, errorMessage(err));
      return false;
    }
    if (!fill) {
      this.setState(img, 'synced', img.size, null);
      return true;
    }
    const f = fill;
    const step = Math.max(1, Math.floor((img.size * stepPct) / 100));
    let nextReport = Math.floor(f.written / step + 1) * step;
    let lastStore = this.o.clock.now();
    this.setState(img, 'syncing', f.written, null);
    const onProgress = () => {
      this.live.set(img.imageId, f.written);
      if (f.written >= nextReport && f.written < img.size) {
        nextReport = Math.floor(f.written / step + 1) * step;
        this.setState(img, 'syncing', f.written, null, true);
        lastStore = this.o.clock.now();
      } else if (this.o.clock.now() - lastStore > 2000) {
        // Keep the stored progress fresh for `cloud-relay images` without a frame per chunk.
        this.o.repo.setState(img.imageId, 'syncing', f.written, null, this.o.clock.now());
        lastStore = this.o.clock.now();
      }
    };
    f.on('progress', onProgress);
    try {
      await f.done;
      this.setState(img, 'synced', img.size, null);
      this.o.log.info({ imageId: img.imageId, size: img.size }, 'image synced');
      return true;
    } catch (err) {
      const code = errorCode(err);
      if (err instanceof Error && 'upstreamStatus' in err && err.upstreamStatus === 401) this.o.onUnauthorized?.('an image download was refused (401)');
      const reason = code === 'CACHE_DISK_FULL' ? 'disk full' : code === 'CACHE_CORRUPT' ? `corrupt download: ${errorMessage(err)}` : errorMessage(err);
      this.setState(img, 'failed', f.written, reason);
      this.o.log.error({ imageId: img.imageId, code, reason }, 'image download failed');
      return false;
    } finally {
      f.off('progress', onProgress);
      this.live.delete(img.imageId);
    }
  }

  private setState(img: ImageRow, state: ImageState, bytes: number, reason: string | null, force = false): void {
    if (!this.o.repo.get(img.imageId)) return; // left the set meanwhile
    this.o.repo.setState(img.imageId, state, bytes, reason, this.o.clock.now());
    if (state !== 'pending') this.report(img.imageId, state, bytes, reason ?? undefined, force);
  }

  /** image.status into the outbox, once per state change (and per progress step while syncing). */
  private report(imageId: string, state: 'syncing' | 'synced' | 'failed', bytes: number, reason?: string, force = false): void {
    const key = `${state}|${reason ?? ''}`;
    if (!force && this.reported.get(imageId) === key) return;
    this.reported.set(imageId, key);
    this.o.outbox.enqueue('image.status', reason !== undefined ? { imageId, state, bytes, reason } : { imageId, state, bytes });
  }

  /** node-cron fires a sync at every window start (UTC); notBefore inside a window is caught by the periodic timer. */
  private updateCron(win: SyncWindow | null): void {
    const expr = win ? windowCron(win) : undefined;
    if (expr === this.cronExpr) return;
    void this.cronTask?.destroy();
    this.cronTask = undefined;
    this.cronExpr = expr;
    if (expr !== undefined && !this.stopped) {
      this.cronTask = cron.schedule(expr, () => this.requestSync('sync window opened'), { timezone: 'UTC', name: 'image-sync-window', noOverlap: true });
    }
  }
}
