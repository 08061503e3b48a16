import type { Logger } from '../log.js';
import type { Clock } from '../core/clock.js';
import type { ReadinessCheck } from '../core/readiness.js';
import { timeouts } from '../core/timeouts.js';
import { errorMessage } from '../errors.js';
import type { Db } from './db-handle.js';

/** SQLite's word for "no room": the disk (ENOSPC, EDQUOT) or the database's page limit. */
export function isStoreFull(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  return code === 'SQLITE_FULL';
}

/**
 * What a writer that must not lose its write needs of StoreSpace: report a failure, and wait
 * until the disk takes writes again to write it then.
 */
export interface SpaceWatch {
  noteFailure(err: unknown, what: string): boolean;
  /** Resolves at once while the store takes writes, else when space is back. */
  whenWritable(): Promise<void>;
}

/** Bytes a probe must be able to add before the store counts as writable again. */
const PROBE_BYTES = 64 * 1024;

/**
 * Whether the data directory's disk still takes writes. Writers report a failed write here;
 * the first SQLITE_FULL of an episode is logged once (STORE_FULL), later ones are only
 * counted, so a full disk under thousands of phones is one log line, not one per write.
 * While full, readiness fails with the reason, and a probe (on each readiness check and on a
 * timer) writes a little data; once it fits, the episode ends with one summary line, with no
 * restart needed.
 */
export class StoreSpace implements SpaceWatch {
  private fullSince: number | undefined;
  private waiting: (() => void)[] = [];
  private firstFailure = '';
  private failedWrites = 0;
  private refusedFrames = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly probeStmt;
  private readonly clearStmt;

  constructor(
    db: Db,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly dataDir: string,
  ) {
    this.probeStmt = db.prepare(
      "INSERT INTO kv (key, value, updated_at) VALUES ('probe.space', ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    );
    this.clearStmt = db.prepare("DELETE FROM kv WHERE key = 'probe.space'");
  }

  get full(): boolean {
    return this.fullSince !== undefined;
  }

  /**
   * A write failed: returns true (and enters or stays in the full state) when it failed for
   * lack of space; other failures are the caller's to report.
   */
  noteFailure(err: unknown, what: string, kind: 'write' | 'frame' = 'write'): boolean {
    if (!isStoreFull(err)) return false;
    if (kind === 'frame') this.refusedFrames++;
    else this.failedWrites++;
    if (this.fullSince === undefined) {
      this.fullSince = this.clock.now();
      this.firstFailure = what;
      this.log.error(
        { code: 'STORE_FULL', dataDir: this.dataDir, failedWrite: what, err: errorMessage(err) },
        `the data directory ${this.dataDir} is full: new DMS frames are refused (nacked) and the relay reports not ready; phones are still served from the cache. Free space there; the relay notices by itself, no restart needed`,
      );
      this.schedule();
    }
    return true;
  }

  whenWritable(): Promise<void> {
    if (this.fullSince === undefined) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Writes waiting for space (held in memory, written once it is back). */
  get heldWrites(): number {
    return this.waiting.length;
  }

  /** A write went through: space is back (if it was gone). */
  noteWritten(): void {
    if (this.fullSince !== undefined) this.recovered();
  }

  /** Tries to store a little data (and removes it again); true when it fit. */
  probe(): boolean {
    if (this.fullSince === undefined) return true;
    try {
      this.probeStmt.run('x'.repeat(PROBE_BYTES), this.clock.now());
      this.clearStmt.run();
    } catch (err) {
      if (isStoreFull(err)) return false;
      throw err;
    }
    this.recovered();
    return true;
  }

  /** Why the relay is not ready, or undefined while the store takes writes. */
  reason(): string | undefined {
    if (this.fullSince === undefined) return undefined;
    return (
      `data directory ${this.dataDir} is full (SQLITE_FULL since ${new Date(this.fullSince).toISOString()}, first at ${this.firstFailure}); ` +
      `${this.refusedFrames} DMS frame(s) refused and ${this.failedWrites} other write(s) failed so far; ${this.waiting.length} result(s) held in memory until space is back`
    );
  }

  readinessCheck(): ReadinessCheck {
    return {
      name: 'store-space',
      check: () => {
        if (this.fullSince !== undefined && !this.probe()) return { ok: false, detail: this.reason() ?? 'data directory full' };
        return { ok: true };
      },
    };
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      try {
        if (!this.probe()) this.schedule();
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'probing the data directory for free space failed');
        this.schedule();
      }
    }, timeouts.storeFullProbe.ms);
    this.timer.unref();
  }

  private recovered(): void {
    const since = this.fullSince ?? this.clock.now();
    this.log.info(
      {
        dataDir: this.dataDir,
        fullSeconds: Math.round((this.clock.now() - since) / 1000),
        refusedFrames: this.refusedFrames,
        failedWrites: this.failedWrites,
        heldWrites: this.waiting.length,
      },
      'the data directory takes writes again: DMS frames are accepted and the relay is ready again',
    );
    this.fullSince = undefined;
    this.failedWrites = 0;
    this.refusedFrames = 0;
    this.stop();
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) w();
  }
}
