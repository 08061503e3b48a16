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
  | 'NO_CREDENTIALS' // the target carries none and the vendor has no relay-wide default: nothing sent, final
  | 'API_DISABLED' // the REST API is switched off on the phone
  | 'NOT_SUPPORTED' // this model/firmware has no such endpoint or feature
  | 'BUSY' // the phone said 4001 (device busy) or 503
  | 'PHONE_ERROR' // the phone answered with a non-success status
  | 'HTTP_ERROR' // an unexpected HTTP status (5xx …)
  | 'BAD_RESPONSE' // the answer could not be parsed
  | 'UPLOAD_FAILED' // a file the phone produced could not be delivered
  | 'RATE_LIMITED' // the relay holds back to protect the phone (OpenStage: one contact-me per minute), final
  | 'DLS_NONCE_MISMATCH' // an OpenStage phone answered with another nonce than its interaction began with (final)
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

/**
 * Why a DLS (OpenStage WPI) message could not be read or written. Parse errors of the XML
 * itself keep their XML_* codes (devices/xml.ts); these say what is wrong with a well-formed
 * document, or with a reply the relay was about to send.
 */
export type DlsErrorCode = Catalogued<
  | 'DLS_NOT_WORKPOINT_MESSAGE' // the root is not a WorkpointMessage, or it has no Message
  | 'DLS_BAD_MESSAGE' // a required attribute or element is missing or has a value outside the interface
  | 'DLS_SESSION_FOREIGN' // a session cookie presented from another address than the interaction's phone
  | 'DLS_BODY_TOO_LARGE' // a post to the DLS port over the WorkpointMessage bound
  | 'DLS_REPLY_TOO_LARGE' // the DLSMessage the relay built exceeds its size bound
>;

export class DlsError extends RelayError {
  declare readonly code: DlsErrorCode;
  constructor(code: DlsErrorCode, message: string) {
    super(code, message);
  }
}
