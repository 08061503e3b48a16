import { RelayError } from '../errors.js';

/**
 * Codes: CACHE_DISK_FULL (ENOSPC while filling), CACHE_QUOTA (object does not fit even after
 * eviction), CACHE_CORRUPT (sha256 or size mismatch), CACHE_UPSTREAM (the origin failed or
 * refused), CACHE_ABORTED (relay stopping), CACHE_IO (other disk error).
 */
export class CacheError extends RelayError {
  /** Whether trying the same fill again later can succeed without anything else changing. */
  readonly retryable: boolean;
  /** HTTP status of the origin when it answered with an error. */
  readonly upstreamStatus: number | undefined;

  constructor(code: string, message: string, options: { retryable?: boolean; upstreamStatus?: number; cause?: unknown } = {}) {
    super(code, message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.retryable = options.retryable ?? false;
    this.upstreamStatus = options.upstreamStatus;
  }
}
