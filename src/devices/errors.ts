import { RelayError, type Catalogued } from '../errors.js';

/**
 * Why a call to a phone did not produce an answer the driver could use. `reached` says
 * whether the request may have reached the phone: a command that changes the phone
 * (reboot, reset, dial) is never resent once it may have arrived.
 */
export type DeviceErrorCode = Catalogued<
  | 'CONNECT_FAILED' // refused, unreachable, connect timeout: the request never left
  | 'TLS_PIN_MISMATCH' // the phone's certificate changed since it was pinned
  | 'TLS_UNTRUSTED' // tlsPolicy=verify and the chain does not lead to the configured CA
  | 'TIMEOUT' // sent, no answer in time
  | 'CONNECTION_LOST' // sent, the connection broke before the answer
  | 'AUTH_FAILED' // 401/403: wrong credentials, final
  | 'API_DISABLED' // the REST API is switched off on the phone
  | 'NOT_SUPPORTED' // this model/firmware has no such endpoint or feature
  | 'BUSY' // the phone said 4001 (device busy) or 503
  | 'PHONE_ERROR' // the phone answered with a non-success status
  | 'HTTP_ERROR' // an unexpected HTTP status (5xx …)
  | 'BAD_RESPONSE' // the answer could not be parsed
  | 'UPLOAD_FAILED' // a file the phone produced could not be delivered
>;

export class DeviceError extends RelayError {
  declare readonly code: DeviceErrorCode;
  readonly reached: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(code: DeviceErrorCode, message: string, opts: { reached: boolean; retryAfterMs?: number; cause?: unknown }) {
    super(code, message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.reached = opts.reached;
    this.retryAfterMs = opts.retryAfterMs;
  }
}
