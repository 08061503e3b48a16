import { randomUUID } from 'node:crypto';
import { accessSync, constants, statSync } from 'node:fs';
import type { Dispatcher } from 'undici';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../log.js';
import type { CacheRepo } from '../store/cache.js';
import type { ImagesRepo } from '../store/images.js';
import { errorMessage } from '../errors.js';
import { CacheError } from './errors.js';
import { Fill, type FillEnv, type FillSource, type RetryPolicy } from './fill.js';
import { ObjectStore, isSha256 } from './object-store.js';
import { timeouts } from '../core/timeouts.js';

export interface FirmwareCacheOptions {
  readonly dir: string;
  readonly quotaBytes: number;
  readonly cacheRepo: CacheRepo;
  readonly imagesRepo: ImagesRepo;
  readonly dispatcher: Dispatcher;
  readonly log: Logger;
  readonly clock: Clock;
  readonly retry?: RetryPolicy;
  readonly headersTimeoutMs?: number;
  readonly bodyTimeoutMs?: number;
  /** Told when a store write fails; true when it failed for lack of space (then the serve goes on). */
  readonly space?: { noteFailure(err: unknown, what: string): boolean } | undefined;
  /** Names the outbound proxy's part in a failed fill (FillEnv.upstreamProblem). */
  readonly upstreamProblem?: FillEnv['upstreamProblem'];
}

export interface CompleteObject {
  readonly sha256: string;
  readonly size: number;
  readonly path: string;
  readonly createdAt: number;
}

export interface CacheStats {
  bytes: number;
  objects: number;
  hits: number;
  misses: number;
  fills: number;
  reservedBytes: number;
  quotaBytes: number;
  lastError: { code: string; message: string; at: string } | null;
}

/** An image of the desired set as the cache needs it. */
export interface ImageObjectSpec {
  readonly sha256: string;
  readonly size: number;
  readonly source: FillSource;
}

/**
 * The content-addressed firmware store: objects named by sha256, an index in SQLite, one
 * fill per object however many requesters ask (single flight), a byte quota with LRU
 * eviction of objects no image of the desired set pins.
 */
export class FirmwareCache {
  readonly store: ObjectStore;
  private readonly fills = new Map<string, Fill>();
  private readonly abort = new AbortController();
  private reservedBytes = 0;
  private hits = 0;
  private misses = 0;
  private lastError: CacheStats['lastError'] = null;
  private readonly retry: RetryPolicy;

  constructor(private readonly opts: FirmwareCacheOptions) {
    this.store = new ObjectStore(opts.dir);
    this.retry = opts.retry ?? { attempts: 6, baseDelayMs: timeouts.firmwareFillRetry.ms, maxDelayMs: timeouts.firmwareFillRetryCap.ms };
  }

  /** Brings index and disk into agreement: rows without files are dropped, files without rows adopted. */
  async init(): Promise<void> {
    this.store.init();
    const onDisk = new Set(this.store.objectNames());
    for (const row of this.opts.cacheRepo.objects()) {
      if (!onDisk.has(row.sha256)) {
        this.opts.log.warn({ code: 'CACHE_OBJECT_MISSING', sha256: row.sha256 }, 'cache object missing on disk; forgetting it');
        this.opts.cacheRepo.removeObject(row.sha256);
      } else {
        onDisk.delete(row.sha256);
      }
    }
    // A file in objects/ was verified and fsynced before its rename, so one without a row
    // (a crash between rename and index insert) is adopted, not thrown away.
    for (const orphan of onDisk) {
      try {
        this.opts.cacheRepo.addObject(orphan, statSync(this.store.objectPath(orphan)).size, this.opts.clock.now());
        this.opts.log.info({ sha256: orphan }, 'adopted a verified cache object missing from the index');
      } catch (err) {
        this.opts.log.warn({ code: 'CACHE_IO', sha256: orphan, err: errorMessage(err) }, 'cannot adopt cache object; removing it');
        await this.store.removeObject(orphan);
      }
    }
    for (const name of this.store.partialNames()) {
      const m = /^([a-f0-9]{64})\.part$/.exec(name);
      // Resumable partials survive a restart only while an image of the desired set wants them.
      if (!m || !this.opts.imagesRepo.isPinned(m[1] as string)) await this.store.removePartialFile(name);
    }
  }

  complete(sha256: string): CompleteObject | undefined {
    const row = this.opts.cacheRepo.object(sha256);
    if (!row) return undefined;
    return { sha256, size: row.size, path: this.store.objectPath(sha256), createdAt: row.createdAt };
  }

  /** Counts a hit and refreshes the object's LRU position. */
  noteHit(sha256: string): void {
    this.hits++;
    try {
      this.opts.cacheRepo.touch(sha256, this.opts.clock.now());
    } catch (err) {
      // The LRU position is a hint for eviction; a full data disk must not stop phones from getting firmware already on disk.
      if (!this.opts.space?.noteFailure(err, 'cache LRU update')) throw err;
    }
  }

  noteMiss(): void {
    this.misses++;
  }

  /** The running fill for an image, started if none runs; undefined if the object is complete. */
  fillImage(spec: ImageObjectSpec): Fill | undefined {
    if (!isSha256(spec.sha256)) throw new CacheError('CACHE_CORRUPT', `not a sha256: ${spec.sha256}`);
    if (this.complete(spec.sha256)) return undefined;
    const key = `sha:${spec.sha256}`;
    return (
      this.fills.get(key) ??
      this.startFill(key, {
        partialPath: this.store.resumablePartial(spec.sha256),
        source: spec.source,
        expectedSha256: spec.sha256,
        expectedSize: spec.size,
        resumable: true,
      })
    );
  }

  /** The running on-demand fill of a firmware path outside the desired set (hash learnt while downloading). */
  fillPath(path: string, source: FillSource): Fill {
    const key = `path:${path}`;
    const running = this.fills.get(key);
    if (running) return running;
    const fill = this.startFill(key, { partialPath: this.store.transientPartial(randomUUID()), source, resumable: false });
    fill.on('done', () => {
      if (fill.sha256 !== undefined) this.opts.cacheRepo.setPatternPath(path, fill.sha256, fill.written, this.opts.clock.now());
    });
    return fill;
  }

  runningFill(sha256: string): Fill | undefined {
    return this.fills.get(`sha:${sha256}`);
  }

  private startFill(key: string, spec: Omit<ConstructorParameters<typeof Fill>[0], 'key'>): Fill {
    const o = this.opts;
    const fill = new Fill(
      { key, ...spec },
      {
        dispatcher: o.dispatcher,
        log: o.log,
        retry: this.retry,
        headersTimeoutMs: o.headersTimeoutMs ?? timeouts.firmwareHeaders.ms,
        bodyTimeoutMs: o.bodyTimeoutMs ?? timeouts.firmwareBody.ms,
        signal: this.abort.signal,
        objectPath: (sha) => this.store.objectPath(sha),
        syncObjectsDir: () => this.store.syncObjectsDir(),
        reserve: (bytes) => this.reserve(bytes),
        release: (bytes) => {
          this.reservedBytes -= bytes;
        },
        commit: (sha, size) => o.cacheRepo.addObject(sha, size, o.clock.now()),
        upstreamProblem: o.upstreamProblem,
      },
    );
    this.fills.set(key, fill);
    fill.on('failed', (err: CacheError) => {
      // Phones probe model-specific file names (…/sip.ld, then <part number>-sip.ld, …): the
      // origin's 404 for a path outside the desired set is their normal answer, not a fault of the cache.
      if (key.startsWith('path:') && err.upstreamStatus === 404) {
        o.log.debug({ key, url: spec.source.url }, 'firmware path not found at the origin');
        return;
      }
      this.lastError = { code: err.code, message: err.message, at: new Date(o.clock.now()).toISOString() };
      const level = err.code === 'CACHE_ABORTED' ? 'info' : 'error';
      o.log[level]({ key, url: spec.source.url, code: err.code, err: err.message }, 'firmware fill failed');
    });
    fill.done.then(
      () => this.fills.delete(key),
      () => this.fills.delete(key),
    );
    return fill;
  }

  /**
   * Makes room for `bytes` more: evicts unpinned objects, least recently used first, and
   * refuses (CACHE_QUOTA) when pinned objects and running fills leave too little.
   */
  private async reserve(bytes: number): Promise<void> {
    const quota = this.opts.quotaBytes;
    if (bytes > quota) throw new CacheError('CACHE_QUOTA', `object of ${bytes} bytes is larger than the cache quota of ${quota} bytes`);
    // Reserve first so concurrent reservations see each other while eviction awaits.
    this.reservedBytes += bytes;
    try {
      let used = this.opts.cacheRepo.usage().bytes;
      while (used + this.reservedBytes > quota) {
        const victims = this.opts.cacheRepo.evictionCandidates();
        if (victims.length === 0) {
          throw new CacheError('CACHE_QUOTA', `cache quota of ${quota} bytes is full of pinned objects and running fills; cannot fit ${bytes} bytes`);
        }
        for (const v of victims) {
          if (used + this.reservedBytes <= quota) break;
          await this.evict(v.sha256);
          used -= v.size;
        }
        used = this.opts.cacheRepo.usage().bytes;
      }
    } catch (err) {
      this.reservedBytes -= bytes;
      throw err;
    }
  }

  async evict(sha256: string): Promise<void> {
    this.opts.cacheRepo.removeObject(sha256);
    // Readers that already opened the file keep reading it: unlink only drops the name.
    await this.store.removeObject(sha256).catch((err: unknown) => this.opts.log.warn({ code: 'CACHE_IO', sha256, err: errorMessage(err) }, 'cannot remove evicted object'));
    this.opts.log.info({ sha256 }, 'evicted cache object');
  }

  stats(): CacheStats {
    const u = this.opts.cacheRepo.usage();
    return {
      bytes: u.bytes,
      objects: u.objects,
      hits: this.hits,
      misses: this.misses,
      fills: this.fills.size,
      reservedBytes: this.reservedBytes,
      quotaBytes: this.opts.quotaBytes,
      lastError: this.lastError,
    };
  }

  /** Whether the cache directories exist and take writes (for /readyz). */
  writable(): boolean {
    try {
      accessSync(this.store.objectsDir, constants.W_OK);
      accessSync(this.store.partialDir, constants.W_OK);
      return true;
    } catch {
      return false;
    }
  }

  /** Stops every running fill; resumable partial files stay for the next start. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled([...this.fills.values()].map((f) => f.done));
  }
}
