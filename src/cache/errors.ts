import { RelayError, type ErrorCode } from '../errors.js';

/** The cache's codes, each explained in the error catalogue. */
export type CacheErrorCode = Extract<ErrorCode, `CACHE_${string}`>;

export class CacheError extends RelayError {
  declare readonly code: CacheErrorCode;
  /** Whether trying the same fill again later can succeed without anything else changing. */
  readonly retryable: boolean;
  /** HTTP status of the origin when it answered with an error. */
  readonly upstreamStatus: number | undefined;

  constructor(code: CacheErrorCode, message: string, options: { retryable?: boolean; upstreamStatus?: number; cause?: unknown } = {}) {
    super(code, message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.retryable = options.retryable ?? false;
    this.upstreamStatus = options.upstreamStatus;
  }
}
