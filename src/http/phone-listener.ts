import type { Socket } from 'node:net';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import type { Logger } from '../log.js';
import { timeouts } from '../core/timeouts.js';
import type { ListenAddress } from '../config/listen.js';
import { relayMetrics, type ProxyRefusal } from '../metrics/relay-metrics.js';
import { clientIpOf } from './forward-headers.js';
import type { CidrSet } from '../config/cidr.js';
import { MAX_HEADER_BYTES, parseProxyHeader, type Endpoint } from './proxy-protocol.js';

/** Log codes of refused PROXY protocol connections (see src/core/error-catalogue.ts). */
export type ProxyRefusalCode = 'PROXY_SOURCE_UNTRUSTED' | 'PROXY_HEADER_MISSING' | 'PROXY_HEADER_INVALID' | 'PROXY_HEADER_TIMEOUT';

/** Connections the kernel may queue before the relay accepts them (capped by net.core.somaxconn). */
const LISTEN_BACKLOG = 4096;

/** The spec's advice: wait at least 3 s for the header. */
export const PROXY_HEADER_TIMEOUT_MS = timeouts.proxyProtocolHeader.ms;

export interface ProxyProtocolOptions {
  readonly trusted: CidrSet;
  readonly headerTimeoutMs?: number;
}

export interface PhoneListenerOptions {
  /** Which phone port, in log lines (`https`, `dls`). */
  readonly name: string;
  readonly listen: ListenAddress;
  /** The TLS server behind the port; connections reach it through its 'connection' event. */
  readonly server: TcpServer;
  /** Set: every connection must come from a trusted balancer and start with a PROXY header. */
  readonly proxyProtocol?: ProxyProtocolOptions;
  readonly log: Logger;
  /** Open connections at most (the listening socket's maxConnections); further ones are closed at once. */
  readonly maxConnections?: number;
  /** Told about each connection refused over maxConnections. */
  readonly onDrop?: (ip: string | undefined) => void;
}

/** Phones' own addresses for connections a balancer relayed, by socket. */
const relayedPeers = new WeakMap<Socket, Endpoint>();

/**
 * The phone's address for a socket of a phone port: the one from the PROXY header when a
 * balancer relayed the connection, else the socket's peer. Takes the raw socket or the TLS
 * socket a tls.Server built on it (Node keeps the raw one as `_parent`).
 */
export function phoneAddressOf(socket: Socket): string {
  const relayed = relayedPeers.get(socket) ?? relayedPeers.get((socket as Socket & { _parent?: Socket })._parent as Socket);
  return relayed ? relayed.address : clientIpOf(socket.remoteAddress);
}

/**
 * A phone-facing listening port. Without the PROXY protocol it is the TLS server's own
 * listen(). With it, a plain TCP listener in front refuses peers outside lb.trustedProxies,
 * reads the PROXY header (before TLS: it precedes the ClientHello), records the phone's
 * address and only then hands the socket, with any bytes read past the header, to the TLS
 * server. Any phone port (HTTPS, the OpenStage DLS port) uses it the same way.
 */
export class PhoneListener {
  private front: TcpServer | undefined;
  private readonly refusals: RefusalLog;

  constructor(private readonly o: PhoneListenerOptions) {
    this.refusals = new RefusalLog(o.log, o.name);
  }

  async listen(): Promise<AddressInfo> {
    const server = this.o.proxyProtocol ? (this.front = createTcpServer({ noDelay: true }, (s) => this.accept(s, this.o.proxyProtocol!))) : this.o.server;
    if (this.o.maxConnections !== undefined) server.maxConnections = this.o.maxConnections;
    server.on('drop', (d?: { remoteAddress?: string }) => this.o.onDrop?.(d?.remoteAddress === undefined ? undefined : clientIpOf(d.remoteAddress)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // A deep accept queue: thousands of phones reconnect at once after a power cut or a
      // network outage, and a flood of idle connections must not crowd real phones out of it.
      server.listen(this.o.listen.port, this.o.listen.host, LISTEN_BACKLOG, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // Node's HTTP server starts its header/request timeout sweep on 'listening'; the TLS server
    // never listens itself behind the front listener, so it is told here.
    if (this.front) this.o.server.emit('listening');
    return server.address() as AddressInfo;
  }

  /** Closes the listening socket; connections already accepted carry on. */
  stopAccepting(): void {
    (this.front ?? this.o.server).close();
  }

  private accept(socket: Socket, pp: ProxyProtocolOptions): void {
    // Errors before the handover (a reset balancer connection) end here, never as an uncaught 'error'.
    socket.on('error', noop);
    const peer = clientIpOf(socket.remoteAddress);
    if (!pp.trusted.has(peer)) {
      this.refusals.refuse('PROXY_SOURCE_UNTRUSTED', peer, `${peer} is not in lb.trustedProxies`);
      socket.destroy();
      return;
    }
    let received: Buffer = EMPTY;
    const timer = setTimeout(() => {
      cleanup();
      this.refusals.refuse('PROXY_HEADER_TIMEOUT', peer, `no complete PROXY header within ${pp.headerTimeoutMs ?? PROXY_HEADER_TIMEOUT_MS} ms`);
      socket.destroy();
    }, pp.headerTimeoutMs ?? PROXY_HEADER_TIMEOUT_MS);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', cleanup);
    };
    const onData = (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const r = parseProxyHeader(received.length > MAX_HEADER_BYTES ? received.subarray(0, MAX_HEADER_BYTES) : received);
      if (r.kind === 'incomplete') {
        if (received.length < MAX_HEADER_BYTES) return;
        cleanup();
        this.refusals.refuse('PROXY_HEADER_INVALID', peer, `no complete PROXY header in ${MAX_HEADER_BYTES} bytes`);
        socket.destroy();
        return;
      }
      cleanup();
      if (r.kind === 'invalid') {
        this.refusals.refuse(r.missing ? 'PROXY_HEADER_MISSING' : 'PROXY_HEADER_INVALID', peer, r.reason);
        socket.destroy();
        return;
      }
      // Stop the flow before handing over, or bytes after the header would be emitted to no one.
      socket.pause();
      if (r.header.command === 'proxy' && r.header.source) relayedPeers.set(socket, { address: clientIpOf(r.header.source.address), port: r.header.source.port });
      if (received.length > r.length) socket.unshift(received.subarray(r.length));
      this.o.server.emit('connection', socket);
    };
    socket.on('data', onData);
    socket.on('close', cleanup);
  }
}

const EMPTY = Buffer.alloc(0);
const noop = (): void => undefined;

/**
 * One warning per (code, peer) a minute: a misconfigured balancer or a scanner opens many
 * connections, and each one is counted in metrics, not each one logged.
 */
class RefusalLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly port: string,
  ) {}

  refuse(code: ProxyRefusalCode, peer: string, reason: string): void {
    relayMetrics.proxyRefused(REFUSAL_LABEL[code]);
    const key = `${code} ${peer}`;
    const now = Date.now();
    const seen = this.last.get(key);
    if (seen && now - seen.at < 60_000) {
      seen.suppressed++;
      return;
    }
    if (this.last.size >= 1024) this.last.clear();
    this.last.set(key, { at: now, suppressed: 0 });
    this.log.warn({ code, port: this.port, peer, reason, ...(seen?.suppressed ? { suppressed: seen.suppressed } : {}) }, `phone connection refused: ${reason}`);
  }
}

const REFUSAL_LABEL: Record<ProxyRefusalCode, ProxyRefusal> = {
  PROXY_SOURCE_UNTRUSTED: 'untrusted',
  PROXY_HEADER_MISSING: 'missing',
  PROXY_HEADER_INVALID: 'invalid',
  PROXY_HEADER_TIMEOUT: 'timeout',
};
