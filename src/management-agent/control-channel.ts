import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import WebSocket, { type RawData } from 'ws';
import type { Logger } from '../log.js';
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../errors.js';
import { MAX_FRAME_BYTES } from './frames.js';
import type { InboundDispatcher } from './inbound.js';
import type { DurableOutbox } from './outbox.js';
import type { RegistrationClient } from './registration.js';
import type { AgentTuning } from './tuning.js';
import { Backoff } from '../core/backoff.js';
import { clockSkewFromTlsError } from './clock-skew.js';
import type { DmsClient } from '../dms/client.js';

export const SUBPROTOCOL = 'relay.v1';

/** Close codes of PROTOCOL §3. */
export const CloseCode = {
  GOING_AWAY: 1001,
  TOO_BIG: 1009,
  SUPERSEDED: 4001,
  TOKEN_REJECTED: 4003,
  FRAME_INVALID: 4008,
} as const;

export interface ControlChannelDeps {
  readonly registration: RegistrationClient;
  readonly outbox: DurableOutbox;
  readonly inbound: InboundDispatcher;
  readonly dms: DmsClient;
  readonly runId: string;
  readonly log: Logger;
  readonly clock: Clock;
  readonly tuning: AgentTuning;
}

export interface ControlStatus {
  connected: boolean;
  since: string | null;
  reconnects: number;
  lastClose: { code: number; reason: string; at: string } | null;
  /** When the channel went down (or the relay started, if it was never up); null while up. */
  downSince: string | null;
  /** Why the last attempt or connection failed, in the words of its log line. */
  lastError: { code: string; message: string; at: string } | null;
}

/**
 * The relay's end of the WebSocket control channel (PROTOCOL §3): one connection at a
 * time, liveness by ping (a peer silent until the next ping is terminated), reconnects
 * with full jitter, and the outbox pumped on every connection.
 */
export class ControlChannel {
  private ws: WebSocket | undefined;
  private connectedAt: number | undefined;
  private stopped = true;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private stableTimer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;
  private alive = false;
  private reconnects = 0;
  private lastClose: ControlStatus['lastClose'] = null;
  private downSince: number | undefined;
  private lastError: ControlStatus['lastError'] = null;
  private readonly connectWaiters: (() => void)[] = [];

  constructor(private readonly deps: ControlChannelDeps) {
    this.backoff = new Backoff(deps.tuning.reconnectBaseMs, deps.tuning.reconnectCapMs, 'full');
  }

  start(): void {
    this.stopped = false;
    this.downSince = this.deps.clock.now();
    this.deps.registration.onChange(() => {
      // A new token: connect now unless a connection (or an attempt) is already under way.
      if (!this.ws && !this.stopped) {
        if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
        this.reconnectTimer = undefined;
        this.connect();
      }
    });
    if (this.deps.registration.current()) this.connect();
  }

  get connected(): boolean {
    return this.connectedAt !== undefined;
  }

  status(): ControlStatus {
    return {
      connected: this.connected,
      since: this.connectedAt === undefined ? null : new Date(this.connectedAt).toISOString(),
      reconnects: this.reconnects,
      lastClose: this.lastClose,
      downSince: this.connectedAt !== undefined || this.downSince === undefined ? null : new Date(this.downSince).toISOString(),
      lastError: this.lastError,
    };
  }

  /** Resolves when a connection is open (tests, demo). */
  whenConnected(): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve) => this.connectWaiters.push(resolve));
  }

  private connect(): void {
    if (this.stopped || this.ws) return;
    const reg = this.deps.registration.current();
    if (!reg) {
      // No token: the registration client is working on it and onChange will call us.
      this.deps.registration.ensure();
      return;
    }
    const { log, tuning } = this.deps;
    log.debug({ url: reg.controlUrl }, 'opening the control channel');
    let ws: WebSocket;
    try {
      ws = new WebSocket(reg.controlUrl, SUBPROTOCOL, {
        headers: { authorization: `Bearer ${reg.token}`, 'x-relay-run-id': this.deps.runId },
        ...this.deps.dms.webSocketOptions(reg.controlUrl),
        maxPayload: MAX_FRAME_BYTES,
        handshakeTimeout: tuning.handshakeTimeoutMs,
        perMessageDeflate: false,
        followRedirects: false,
      });
    } catch (err) {
      log.error({ code: 'CONTROL_CONNECT_FAILED', err: errorMessage(err) }, 'cannot open the control channel');
      this.noteError('CONTROL_CONNECT_FAILED', `cannot open the control channel: ${errorMessage(err)}`);
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    let opened = false;

    ws.on('unexpected-response', (req: object, res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      res.resume();
      const proxyProblem = this.deps.dms.upgradeRefusal(req, status, reg.controlUrl);
      if (proxyProblem) {
        log.warn({ code: proxyProblem.code, status }, proxyProblem.message);
        this.noteError(proxyProblem.code, proxyProblem.message);
      } else if (status === 401) {
        log.warn({ code: 'CONTROL_TOKEN_REJECTED', status }, 'the DMS rejected our token at the control-channel upgrade');
        this.noteError('CONTROL_TOKEN_REJECTED', 'the DMS rejected our token at the control-channel upgrade');
        this.deps.registration.invalidate('control upgrade answered 401');
      } else {
        log.warn({ code: 'CONTROL_UPGRADE_REFUSED', status }, `the DMS refused the control-channel upgrade with HTTP ${status}`);
        this.noteError('CONTROL_UPGRADE_REFUSED', `the DMS refused the control-channel upgrade with HTTP ${status}`);
      }
      ws.terminate();
    });
    ws.on('open', () => {
      opened = true;
      if (ws.protocol !== SUBPROTOCOL) {
        log.error({ code: 'CONTROL_BAD_SUBPROTOCOL', protocol: ws.protocol }, 'the DMS did not accept subprotocol relay.v1');
        this.noteError('CONTROL_BAD_SUBPROTOCOL', 'the DMS did not accept subprotocol relay.v1');
        ws.close(1002, 'subprotocol relay.v1 required');
        return;
      }
      this.onOpen(ws);
    });
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(ws, data, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('error', (err: Error) => {
      const skew = clockSkewFromTlsError(err, this.deps.clock.now());
      const proxyProblem = skew || opened ? undefined : this.deps.dms.upgradeError(err, reg.controlUrl);
      if (skew) {
        log.error({ code: skew.code }, skew.message);
        this.noteError(skew.code, skew.message);
      } else if (proxyProblem) {
        log.error({ code: proxyProblem.code }, proxyProblem.message);
        this.noteError(proxyProblem.code, proxyProblem.message);
      } else if (/max payload/i.test(err.message)) {
        log.error({ code: 'FRAME_TOO_LARGE' }, `the DMS sent a frame over the 1 MiB limit: closing with 1009 (${err.message})`);
        this.noteError('FRAME_TOO_LARGE', `the DMS sent a frame over the 1 MiB limit (${err.message})`);
      } else {
        log.warn({ code: 'CONTROL_ERROR', err: err.message, opened }, 'control channel error');
        this.noteError('CONTROL_ERROR', `control channel error: ${err.message}`);
      }
    });
    ws.on('close', (code: number, reason: Buffer) => this.onClose(ws, code, reason.toString('utf8')));
  }

  private onOpen(ws: WebSocket): void {
    const { log, tuning, outbox } = this.deps;
    this.connectedAt = this.deps.clock.now();
    this.downSince = undefined;
    this.alive = true;
    log.info({ outboxDepth: outbox.depth() }, 'control channel connected');
    this.stableTimer = setTimeout(() => {
      if (this.backoff.attempts > 0) log.debug({ attempts: this.backoff.attempts }, 'control channel stable: reconnect backoff reset');
      this.backoff.reset();
    }, tuning.stableAfterMs);
    this.pingTimer = setInterval(() => this.checkLiveness(ws), Math.max(10, Math.min(tuning.pingIntervalMs, tuning.ackTimeoutMs / 2)));
    this.lastPingAt = performance.now();
    const cork = corkPerTurn(ws);
    outbox.attach((text) => {
      if (ws.readyState !== WebSocket.OPEN) return false;
      cork();
      ws.send(text);
      return true;
    });
    for (const w of this.connectWaiters.splice(0)) w();
  }

  private lastPingAt = 0;

  /** Ping raced against the next ping; outbox acks against the ack timeout. */
  private checkLiveness(ws: WebSocket): void {
    const { log, tuning, outbox } = this.deps;
    const now = performance.now();
    // A little slack: the check runs on a timer of the same period and must not skip a beat.
    if (now - this.lastPingAt >= tuning.pingIntervalMs * 0.9) {
      if (!this.alive) {
        log.warn({ code: 'CONTROL_PEER_SILENT' }, 'the DMS did not answer the last ping: terminating the control channel (half-open connection)');
        this.noteError('CONTROL_PEER_SILENT', 'the DMS did not answer the last ping (half-open connection)');
        ws.terminate();
        return;
      }
      this.alive = false;
      this.lastPingAt = now;
      ws.ping();
    }
    const unacked = outbox.oldestUnackedMs();
    if (unacked >= tuning.ackTimeoutMs) {
      log.warn(
        { code: 'CONTROL_ACK_TIMEOUT', unackedMs: Math.round(unacked), inFlight: outbox.inFlightCount() },
        'outbox frames unacked on a live connection: treating it as broken and reconnecting',
      );
      this.noteError('CONTROL_ACK_TIMEOUT', `outbox frames unacked for ${Math.round(unacked / 1000)} s on a live connection`);
      ws.terminate();
    }
  }

  private onMessage(ws: WebSocket, data: RawData, isBinary: boolean): void {
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    let reply;
    try {
      reply = this.deps.inbound.receive(buf, isBinary);
    } catch (err) {
      // The dispatcher never throws by design; this is the last guard of "never crash".
      this.deps.log.error({ code: 'FRAME_DISPATCH_FAILED', err: errorMessage(err) }, 'unexpected failure handling a frame');
      return;
    }
    if (reply && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ v: 1, id: randomUUID(), ts: new Date(this.deps.clock.now()).toISOString(), ...reply }));
    }
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (this.ws !== ws) return;
    const { log, outbox } = this.deps;
    const wasConnected = this.connected;
    this.ws = undefined;
    this.connectedAt = undefined;
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.stableTimer) clearTimeout(this.stableTimer);
    outbox.detach();
    this.lastClose = { code, reason, at: new Date(this.deps.clock.now()).toISOString() };
    if (wasConnected) this.downSince = this.deps.clock.now();
    if (this.stopped) return;
    if (wasConnected && code !== CloseCode.GOING_AWAY && code !== 1000)
      this.noteError('CONTROL_CLOSED', `the DMS closed the control channel with ${code}${reason ? ` (${reason})` : ''}`);
    switch (code) {
      case CloseCode.SUPERSEDED:
        log.warn({ code: 'CONTROL_SUPERSEDED', closeCode: code }, 'the DMS closed this control connection as superseded by a newer one');
        break;
      case CloseCode.TOKEN_REJECTED:
        log.warn({ code: 'CONTROL_TOKEN_REJECTED', closeCode: code, reason }, 'the DMS closed the control channel: token rejected (4003); registering again');
        this.deps.registration.invalidate('control channel closed with 4003');
        break;
      case CloseCode.FRAME_INVALID:
        log.error({ code: 'CONTROL_FRAME_INVALID', closeCode: code, reason }, `the DMS closed the control channel: a frame we sent is invalid (${reason})`);
        break;
      case CloseCode.TOO_BIG:
        log.error({ code: 'FRAME_TOO_LARGE', closeCode: code, reason }, 'control channel closed: frame over 1 MiB');
        break;
      default:
        if (wasConnected) log.warn({ code: 'CONTROL_CLOSED', closeCode: code, reason }, 'control channel closed');
    }
    this.scheduleReconnect();
  }

  private noteError(code: string, message: string): void {
    this.lastError = { code, message, at: new Date(this.deps.clock.now()).toISOString() };
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = this.backoff.next();
    this.reconnects++;
    this.deps.log.info({ delayMs: delay, attempt: this.backoff.attempts }, 'control channel reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, delay);
  }

  /** Closes with 1001 "going away" (shutdown), waiting briefly for the close handshake. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.stableTimer) clearTimeout(this.stableTimer);
    const ws = this.ws;
    if (!ws) return;
    // Flush: frames the other parts produced while draining go out now if the channel is up
    // (they are durable either way; this only saves a resend after the restart).
    const flushUntil = performance.now() + this.deps.tuning.closeTimeoutMs;
    while (this.connected && this.deps.outbox.depth() > 0 && performance.now() < flushUntil) {
      await new Promise((r) => setTimeout(r, 20));
    }
    this.deps.outbox.detach();
    if (ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        ws.terminate();
        resolve();
      }, this.deps.tuning.closeTimeoutMs);
      ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      if (ws.readyState === WebSocket.OPEN) ws.close(CloseCode.GOING_AWAY, 'relay shutting down');
      else ws.terminate();
    });
    this.ws = undefined;
    this.connectedAt = undefined;
  }
}

/**
 * Frames the outbox sends in one go (a batch of task results) leave in one socket write, not
 * one TLS write and system call each: the connection's socket is corked on the first frame of
 * a turn and uncorked once the turn's synchronous sends are done. ws exposes no batching of
 * its own; its socket is the internal `_socket` (absent: frames go out one by one as before).
 */
function corkPerTurn(ws: WebSocket): () => void {
  let corked = false;
  return () => {
    const socket = (ws as unknown as { _socket?: { cork(): void; uncork(): void; destroyed?: boolean } })._socket;
    if (corked || !socket || socket.destroyed) return;
    corked = true;
    socket.cork();
    process.nextTick(() => {
      corked = false;
      socket.uncork();
    });
  };
}
