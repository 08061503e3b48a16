import { createHash, type Hash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createReadStream } from 'node:fs';
import { open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { request } from '../core/undici.js';
import type { Logger } from '../log.js';
import { errorCode, errorMessage, type RelayError } from '../errors.js';
import { errorCatalogue } from '../core/error-catalogue.js';
import { CacheError } from './errors.js';
import { relayMetrics } from '../metrics/relay-metrics.js';
import { retryPolicyDelay, type RetryPolicy } from '../core/backoff.js';

export interface FillSource {
  readonly url: string;
  /** Sent to the origin (bearer token or the phone's Authorization); never logged. */
  readonly headers: Readonly<Record<string, string>>;
}

export type { RetryPolicy };

export interface FillSpec {
  readonly key: string;
  readonly partialPath: string;
  readonly source: FillSource;
  readonly expectedSha256?: string;
  readonly expectedSize?: number;
  /** Keep the partial file after a network failure so a later fill (or a restart) resumes it. */
  readonly resumable: boolean;
}

export interface FillEnv {
  readonly dispatcher: Dispatcher;
  readonly log: Logger;
  readonly retry: RetryPolicy;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly signal: AbortSignal;
  objectPath(sha256: string): string;
  syncObjectsDir(): Promise<void>;
  /** Called once the size is known; throws CacheError(CACHE_QUOTA) when it cannot fit. */
  reserve(bytes: number): Promise<void>;
  /** Releases the reservation (the committed object, if any, is counted by the index). */
  release(bytes: number): void;
  /** Records the verified object in the index. */
  commit(sha256: string, size: number): void;
  /** Names the outbound proxy's part in a failed request to `url` (its 407, policy, re-signed TLS); undefined when it has none. */
  readonly upstreamProblem?: ((err: unknown, url: string) => RelayError | undefined) | undefined;
}

export type FillState = 'running' | 'done' | 'failed';

/**
 * One upstream download into a partial file. Readers follow it through positional reads
 * of the same file as bytes land, so one fetch serves any number of requesters. The last
 * byte is held back from readers until the sha256 is verified, so no reader ever receives
 * a complete body of a corrupt object. Events: 'headers', 'progress', 'done', 'failed'.
 */
export class Fill extends EventEmitter {
  state: FillState = 'running';
  written = 0;
  size: number | undefined;
  sha256: string | undefined;
  error: CacheError | undefined;
  readonly startedAt = Date.now();
  readonly done: Promise<void>;
  private fh: FileHandle | undefined;
  private hash: Hash = createHash('sha256');
  private refs = 0;
  private headersSeen = false;
  private reserved = 0;

  constructor(
    readonly spec: FillSpec,
    private readonly env: FillEnv,
  ) {
    super();
    this.setMaxListeners(0);
    this.size = spec.expectedSize;
    this.sha256 = spec.expectedSha256;
    this.done = this.run();
    // Failures reach callers through 'failed' and `done`; an unobserved `done` is not a crash.
    this.done.catch(() => undefined);
  }

  /** Bytes readers may take now (one held back until verification). */
  readableLimit(): number {
    return this.state === 'done' ? this.written : Math.max(0, this.written - 1);
  }

  /**
   * Resolves once the origin answered with a usable response (the size is then known if the
   * origin sent one) or the fill is complete; rejects with the fill's error if it fails first.
   */
  headersKnown(): Promise<number | undefined> {
    if (this.headersSeen || this.state === 'done') return Promise.resolve(this.size);
    if (this.state === 'failed') return Promise.reject(this.error as CacheError);
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        this.off('headers', onOk);
        this.off('done', onOk);
        this.off('failed', onFail);
      };
      const onOk = () => {
        cleanup();
        resolve(this.size);
      };
      const onFail = () => {
        cleanup();
        reject(this.error as CacheError);
      };
      this.on('headers', onOk);
      this.on('done', onOk);
      this.on('failed', onFail);
    });
  }

  acquire(): void {
    this.refs++;
  }

  release(): void {
    this.refs--;
    this.maybeClose();
  }

  async readAt(buf: Buffer, position: number): Promise<number> {
    if (!this.fh) return 0;
    const { bytesRead } = await this.fh.read(buf, 0, buf.length, position);
    return bytesRead;
  }

  private maybeClose(): void {
    if (this.refs <= 0 && this.state !== 'running' && this.fh) {
      const fh = this.fh;
      this.fh = undefined;
      fh.close().catch(() => undefined);
    }
  }

  private async run(): Promise<void> {
    const { spec, env } = this;
    try {
      await this.openPartial();
      if (this.size !== undefined) await this.reserveFor(this.size);
      for (let attempt = 1; ; attempt++) {
        try {
          await this.fetchOnce();
          break;
        } catch (err) {
          const e = toCacheError(err, env.signal);
          if (!e.retryable || attempt >= env.retry.attempts || env.signal.aborted) throw e;
          const delay = retryPolicyDelay(env.retry, attempt, 'equal');
          env.log.warn({ key: spec.key, url: spec.source.url, at: this.written, attempt, err: e.message }, 'firmware fill interrupted; resuming with Range');
          await sleep(delay, undefined, { signal: env.signal }).catch(() => undefined);
          if (env.signal.aborted) throw new CacheError('CACHE_ABORTED', 'the relay is stopping', { retryable: true });
        }
      }
      await this.finish();
      this.state = 'done';
      this.env.release(this.reserved);
      relayMetrics.upstreamFetch(spec.resumable ? 'image' : 'on_demand', 'ok');
      this.emit('done');
    } catch (err) {
      const e = toCacheError(err, env.signal);
      this.error = e;
      this.state = 'failed';
      this.env.release(this.reserved);
      relayMetrics.upstreamFetch(spec.resumable ? 'image' : 'on_demand', 'error');
      // Bytes already written stay valid whatever the origin said next (even a 401 on an
      // expired token), so a resumable partial survives upstream trouble; corrupt, full-disk
      // and over-quota partials go.
      const keep = spec.resumable && (e.code === 'CACHE_UPSTREAM' || e.code === 'CACHE_ABORTED');
      if (!keep) await unlink(spec.partialPath).catch(() => undefined);
      this.emit('failed', e);
      throw e;
    } finally {
      this.maybeClose();
    }
  }

  private async reserveFor(size: number): Promise<void> {
    if (this.reserved > 0) return;
    await this.env.reserve(size);
    this.reserved = size;
  }

  /** Opens the partial file; a resumable one that exists is re-hashed so the fill continues it. */
  private async openPartial(): Promise<void> {
    const { spec } = this;
    let existing = 0;
    if (spec.resumable) {
      existing = await stat(spec.partialPath).then(
        (s) => s.size,
        () => 0,
      );
      if (spec.expectedSize !== undefined && existing > spec.expectedSize) existing = 0;
    }
    try {
      if (existing > 0) {
        this.fh = await open(spec.partialPath, 'r+');
        await this.fh.truncate(existing);
        for await (const chunk of createReadStream(spec.partialPath, { start: 0, end: existing - 1, highWaterMark: 1024 * 1024 })) {
          this.hash.update(chunk as Buffer);
        }
        this.written = existing;
        this.env.log.info({ key: spec.key, bytes: existing }, 'resuming firmware fill from a partial file');
      } else {
        this.fh = await open(spec.partialPath, 'w+');
      }
    } catch (err) {
      throw ioError(err, `cannot open ${spec.partialPath}`);
    }
  }

  private restartFromZero(): void {
    this.hash = createHash('sha256');
    this.written = 0;
  }

  private async fetchOnce(): Promise<void> {
    const { spec, env } = this;
    if (this.size !== undefined && this.written === this.size && this.written > 0) {
      this.headersSeen = true;
      this.emit('headers');
      return;
    }
    const headers: Record<string, string> = { ...spec.source.headers };
    if (this.written > 0) headers.range = `bytes=${this.written}-`;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(spec.source.url, {
        dispatcher: env.dispatcher,
        method: 'GET',
        headers,
        signal: env.signal,
        headersTimeout: env.headersTimeoutMs,
        bodyTimeout: env.bodyTimeoutMs,
      });
    } catch (err) {
      throw toCacheError(err, env.signal, env.upstreamProblem?.(err, spec.source.url));
    }
    const status = res.statusCode;
    if (status === 206) {
      const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
      if (!cr || Number(cr[1]) !== this.written) {
        await res.body.dump().catch(() => undefined);
        await this.truncate();
        throw new CacheError('CACHE_UPSTREAM', 'origin answered a range other than the one asked; restarting from byte 0', { retryable: true });
      }
      if (cr[3] !== '*') this.learnSize(Number(cr[3]));
    } else if (status === 200) {
      if (this.written > 0) {
        env.log.info({ key: spec.key }, 'origin ignored Range; downloading from byte 0');
        await this.truncate();
      }
      const cl = res.headers['content-length'];
      if (cl !== undefined) this.learnSize(Number(cl));
    } else if (status === 416 && this.size !== undefined && this.written === this.size) {
      await res.body.dump().catch(() => undefined);
      this.headersSeen = true;
      this.emit('headers');
      return;
    } else {
      await res.body.dump().catch(() => undefined);
      const retryable = status >= 500 || status === 429 || status === 408 || status === 416;
      if (status === 416) await this.truncate();
      throw new CacheError('CACHE_UPSTREAM', `origin answered HTTP ${status}`, { retryable, upstreamStatus: status });
    }
    if (this.size !== undefined) await this.reserveFor(this.size);
    this.headersSeen = true;
    this.emit('headers');
    const fh = this.fh as FileHandle;
    try {
      for await (const chunk of res.body) {
        const buf = chunk as Buffer;
        if (this.size !== undefined && this.written + buf.length > this.size) {
          throw new CacheError('CACHE_CORRUPT', `origin sent more than the expected ${this.size} bytes`);
        }
        try {
          await fh.write(buf, 0, buf.length, this.written);
        } catch (err) {
          throw ioError(err, 'cannot write the partial file');
        }
        this.hash.update(buf);
        this.written += buf.length;
        this.emit('progress');
      }
    } catch (err) {
      res.body.destroy();
      throw toCacheError(err, env.signal);
    }
    if (this.size === undefined) {
      this.size = this.written;
    } else if (this.written < this.size) {
      throw new CacheError('CACHE_UPSTREAM', `origin ended the body at byte ${this.written} of ${this.size}`, { retryable: true });
    }
  }

  private learnSize(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new CacheError('CACHE_UPSTREAM', 'origin sent an invalid length');
    if (this.size !== undefined && this.size !== n) {
      throw new CacheError('CACHE_CORRUPT', `origin says the object has ${n} bytes, the catalogue says ${this.size}`);
    }
    this.size = n;
  }

  private async truncate(): Promise<void> {
    await (this.fh as FileHandle).truncate(0);
    this.restartFromZero();
  }

  private async finish(): Promise<void> {
    const { spec, env } = this;
    const fh = this.fh as FileHandle;
    try {
      await fh.sync();
    } catch (err) {
      throw ioError(err, 'cannot fsync the partial file');
    }
    const sha = this.hash.digest('hex');
    if (spec.expectedSha256 !== undefined && sha !== spec.expectedSha256) {
      throw new CacheError('CACHE_CORRUPT', `sha256 mismatch: expected ${spec.expectedSha256}, got ${sha}`);
    }
    try {
      await rename(spec.partialPath, env.objectPath(sha));
      await env.syncObjectsDir();
    } catch (err) {
      throw ioError(err, 'cannot move the verified object into place');
    }
    this.sha256 = sha;
    this.size = this.written;
    env.commit(sha, this.written);
  }
}

function ioError(err: unknown, what: string): CacheError {
  if (err instanceof CacheError) return err;
  const code = errorCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') return new CacheError('CACHE_DISK_FULL', `${what}: the disk is full (${code})`, { cause: err });
  return new CacheError('CACHE_IO', `${what}: ${errorMessage(err)}`, { cause: err });
}

function toCacheError(err: unknown, signal: AbortSignal, named?: RelayError): CacheError {
  if (err instanceof CacheError) return err;
  if (signal.aborted) return new CacheError('CACHE_ABORTED', 'the relay is stopping', { retryable: true, cause: err });
  // A proxy refusing us (credentials, policy, re-signed TLS) answers the same way on every retry.
  if (named)
    return new CacheError('CACHE_UPSTREAM', `origin transfer failed: ${named.message} (${named.code})`, { retryable: errorCatalogue[named.code].retry === 'yes', cause: err });
  const code = errorCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') return ioError(err, 'fill');
  return new CacheError('CACHE_UPSTREAM', `origin transfer failed: ${errorMessage(err)}`, { retryable: true, cause: err });
}
