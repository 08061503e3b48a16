import { timeouts } from '../core/timeouts.js';

/**
 * Timing of the management agent. Defaults are the protocol's (the timeouts among them come
 * from the timeouts table); tests and the demo pass shorter ones through the daemon's
 * constructor (these are not admin settings).
 */
export interface AgentTuning {
  /** Retry after 401 at registration: base, doubling to the cap, jittered (PROTOCOL §1). */
  authRetryBaseMs: number;
  authRetryCapMs: number;
  /** Retry after `license_expired`. */
  licenseRetryMs: number;
  /** Retry after 5xx / network / TLS failures at registration: full jitter up to the cap. */
  transientRetryBaseMs: number;
  transientRetryCapMs: number;
  /** Upper bound on a 429 Retry-After we obey. */
  retryAfterCapMs: number;
  /** Re-register this long before the token expires. */
  tokenRefreshMarginMs: number;
  /** The DMS's heartbeat interval is obeyed but never faster than this (PROTOCOL §2: 5 s). */
  heartbeatMinIntervalMs: number;
  /** Control-channel ping period; a peer that has not answered by the next ping is dead. */
  pingIntervalMs: number;
  /** Reconnect backoff: full jitter in [0, min(cap, base·2^n)], n reset after `stableAfterMs` connected. */
  reconnectBaseMs: number;
  reconnectCapMs: number;
  stableAfterMs: number;
  /** WebSocket opening handshake timeout. */
  handshakeTimeoutMs: number;
  /** Outbox frames unacked this long on a live connection → the connection is treated as broken. */
  ackTimeoutMs: number;
  /** Outbox frames in flight (sent, unacked) per connection. */
  sendWindow: number;
  /** Outbox rows at most (the DMS unreachable for very long): beyond this, enqueue refuses. */
  outboxMaxRows: number;
  /** A DMS serverTime further off than this means our clock is wrong. */
  clockSkewToleranceMs: number;
  /** HTTP timeouts for registration and heartbeat calls. */
  httpTimeoutMs: number;
  /** How long stop() waits for the control socket's close handshake. */
  closeTimeoutMs: number;
}

export const DEFAULT_TUNING: AgentTuning = {
  authRetryBaseMs: 30_000,
  authRetryCapMs: 15 * 60_000,
  licenseRetryMs: 60 * 60_000,
  transientRetryBaseMs: 1_000,
  transientRetryCapMs: 5 * 60_000,
  retryAfterCapMs: 60 * 60_000,
  tokenRefreshMarginMs: 5 * 60_000,
  heartbeatMinIntervalMs: 5_000,
  pingIntervalMs: timeouts.controlPing.ms,
  reconnectBaseMs: 1_000,
  reconnectCapMs: 60_000,
  stableAfterMs: 20_000,
  handshakeTimeoutMs: timeouts.controlHandshake.ms,
  ackTimeoutMs: timeouts.controlAck.ms,
  sendWindow: 128,
  outboxMaxRows: 1_000_000,
  clockSkewToleranceMs: 5 * 60_000,
  httpTimeoutMs: timeouts.dmsHttp.ms,
  closeTimeoutMs: timeouts.controlClose.ms,
};

export function tuningWith(overrides: Partial<AgentTuning> | undefined): AgentTuning {
  return { ...DEFAULT_TUNING, ...(overrides ?? {}) };
}
