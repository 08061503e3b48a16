import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../log.js';
import type { ListenAddress } from '../config/listen.js';
import type { Draining } from '../core/lifecycle.js';
import type { Registration } from '../core/ports.js';
import { errorMessage } from '../errors.js';
import type { CertificateManager } from '../tls/certificate-manager.js';
import type { PhoneRoute, PhoneRequestContext } from '../core/phone-route.js';
import type { IpGuard } from './ip-guard.js';
import { PhoneListener, phoneAddressOf, type ProxyProtocolOptions } from './phone-listener.js';
import { parseRequestTarget } from './request-target.js';
import type { ProvisioningProxy } from './provisioning-proxy.js';
import { sendText } from './responses.js';
import { OWN_ANSWER_HEADERS, OWN_ANSWER_HEADER_LINES } from './security-headers.js';
import { timeouts } from '../core/timeouts.js';
import { CutConnections, cutSlowHandshakes } from './cut-connections.js';

export const MAX_HEADER_BYTES = 16 * 1024;

export interface PhoneServerOptions {
  readonly listen: ListenAddress;
  /** Set when a load balancer sends the PROXY protocol: the phones' addresses come from it. */
  readonly proxyProtocol?: ProxyProtocolOptions;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** A connection must finish its TLS handshake within this (idle connections are cut). */
  readonly handshakeTimeoutMs: number;
  /** Open connections at most; further ones are refused. */
  readonly maxConnections: number;
  readonly maxUploadBytes: number;
  readonly certs: CertificateManager;
  readonly guard: IpGuard;
  readonly proxy: ProvisioningProxy;
  /** Live list: parts may add routes after the server is built. */
  readonly routes: readonly PhoneRoute[];
  readonly registration: () => Registration | undefined;
  readonly draining: Draining;
  readonly log: Logger;
}

const CONNECT_REFUSAL = `HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 41\r\n${OWN_ANSWER_HEADER_LINES}Connection: close\r\n\r\nCONNECT is not supported by this server\r\n`;

/**
 * The phone-facing HTTPS port: TLS from the certificate manager (hot-swapped), input
 * hygiene, the IP guard and draining; then the registered phone routes in order; then the
 * provisioning pass-through.
 */
export class PhoneServer {
  private readonly server: Server;
  private readonly listener: PhoneListener;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly debug: boolean;
  /** Idle, slow and over-cap connections, counted and logged as one line per interval. */
  readonly cut: CutConnections;

  constructor(private readonly o: PhoneServerOptions) {
    this.debug = o.log.isLevelEnabled('debug');
    this.cut = new CutConnections(o.log, 'https');
    this.server = createServer(
      {
        ...o.certs.current.options,
        maxHeaderSize: MAX_HEADER_BYTES,
        requestTimeout: o.requestTimeoutMs,
        headersTimeout: Math.min(o.headersTimeoutMs, o.requestTimeoutMs),
        keepAliveTimeout: timeouts.phoneIdle.ms,
        handshakeTimeout: o.handshakeTimeoutMs,
        // How often Node sweeps for requests past their header/request deadline: a slow
        // client is cut within timeout + this.
        connectionsCheckingInterval: Math.max(100, Math.min(2_000, o.headersTimeoutMs / 2)),
      },
      (req, res) => this.onRequest(req, res),
    );
    this.server.on('connect', (req: IncomingMessage, socket: Socket) => {
      o.log.warn({ ip: phoneAddressOf(socket), target: req.url, code: 'BAD_REQUEST' }, 'CONNECT refused on the phone port');
      socket.end(CONNECT_REFUSAL);
    });
    this.handshakeTimedOut = cutSlowHandshakes(this.server, this.cut, (err, socket) => {
      if (this.debug) o.log.debug({ ip: phoneAddressOf(socket), err: errorMessage(err) }, 'TLS handshake failed');
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
    this.listener = new PhoneListener({
      name: 'https',
      listen: o.listen,
      server: this.server,
      log: o.log,
      maxConnections: o.maxConnections,
      onDrop: (ip) => this.cut.note('overCap', ip),
      ...(o.proxyProtocol ? { proxyProtocol: o.proxyProtocol } : {}),
    });
    // Idle keep-alive connections would pin phones to this relay after the balancer moved on.
    o.draining.onBegin(() => this.server.closeIdleConnections());
    o.certs.onChange((cert) => {
      // New handshakes get the new certificate; established connections keep theirs.
      // Ticket keys stay the same so phones can still resume their sessions.
      this.server.setSecureContext({ ...cert.options, ticketKeys: this.server.getTicketKeys() });
    });
  }

  listen(): Promise<AddressInfo> {
    return this.listener.listen();
  }

  /** Stops accepting, lets in-flight exchanges finish until the deadline. */
  async drain(deadlineMs: number): Promise<void> {
    this.listener.stopAccepting();
    this.server.close();
    this.server.closeIdleConnections();
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadlineMs - Date.now()));
      timer.unref();
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  stop(): void {
    this.listener.stopAccepting();
    this.server.close();
    this.server.closeAllConnections();
    this.cut.report();
  }

  /** Takes a handshake timeout reported as an HTTP client error (counted once with the TLS one). */
  private readonly handshakeTimedOut: (err: NodeJS.ErrnoException, socket: Socket) => boolean;

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (this.handshakeTimedOut(err, socket)) return;
    const ip = phoneAddressOf(socket);
    const code = err.code ?? 'CLIENT_ERROR';
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    let status = '400 Bad Request';
    if (code === 'HPE_HEADER_OVERFLOW') status = '431 Request Header Fields Too Large';
    else if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'HPE_HEADERS_TIMEOUT') status = '408 Request Timeout';
    // Slow or silent clients come in floods (slowloris): counted, one line per interval.
    if (status.startsWith('408')) this.cut.note('headerTimeouts', ip);
    else this.o.log.warn({ ip, code, err: errorMessage(err) }, `phone request refused: ${status}`);
    socket.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\n${OWN_ANSWER_HEADER_LINES}Connection: close\r\n\r\n`);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.inFlight++;
    // 'close' fires once per response: a shared listener spares a closure and a once-wrapper per request.
    res.on('close', this.onResponseClosed);
    const o = this.o;
    const ip = phoneAddressOf(req.socket);
    const url = req.url ?? '';
    const target = parseRequestTarget(url);
    if (typeof target === 'string') {
      o.log.warn({ ip, method: req.method, url: url.slice(0, 512), code: 'BAD_REQUEST', reason: target }, 'phone request refused: bad request target');
      return sendText(res, 400, `Bad request: ${target}`, { connection: 'close' });
    }
    const verdict = o.guard.check(ip);
    if (!verdict.allowed) {
      if (this.debug) o.log.debug({ ip, path: target.path, state: verdict.state }, 'ip guard refused a request');
      return sendText(res, 403, 'Forbidden');
    }
    if (o.draining.active) {
      if (o.draining.closed) return sendText(res, 503, 'Relay is shutting down', { connection: 'close', 'retry-after': '5' });
      // Drain delay: still served, but the phone's next request opens a new connection,
      // which the balancer sends to another relay once its health check has noticed.
      res.setHeader('connection', 'close');
    }

    const declared = contentLength(req.rawHeaders);
    if (declared > o.maxUploadBytes) {
      o.log.warn({ ip, path: target.path, bytes: declared, limit: o.maxUploadBytes, code: 'UPLOAD_TOO_LARGE' }, 'upload refused: larger than proxy.maxUploadBytes');
      return sendText(res, 413, 'Upload too large', { connection: 'close' });
    }
    if (this.debug) o.log.debug({ ip, method: req.method, path: target.path }, 'phone request');

    const method = req.method!;
    const routes = o.routes;
    for (let i = 0; i < routes.length; i++) {
      const route = routes[i]!;
      if (!route.matches(method, target.path)) continue;
      const ctx: PhoneRequestContext = { clientIp: ip, path: target.path, search: target.search };
      // Routes answer for the relay itself (cache, notifications, uploads). Not set on the
      // pass-through path: once any header is set, Node merges raw upstream headers one
      // setHeader at a time and a repeated one (Set-Cookie) would keep only its last value.
      for (const name in OWN_ANSWER_HEADERS) res.setHeader(name, OWN_ANSWER_HEADERS[name]!);
      res.once('finish', () => {
        const s = res.statusCode;
        if (s === 401 || s === 403 || s === 404) o.guard.recordFailure(ip, `${s} ${target.path}`);
        else if (s < 300 && req.rawHeaders.some((h, j) => j % 2 === 0 && h.toLowerCase() === 'authorization')) o.guard.recordSuccess(ip);
      });
      route.handle(req, res, ctx).catch((err: unknown) => {
        o.log.error({ ip, path: target.path, route: route.name, err: errorMessage(err) }, 'phone route failed');
        sendText(res, 500, 'Internal error');
      });
      return;
    }

    const reg = o.registration();
    if (!reg) {
      return sendText(res, 503, 'Relay is not registered with the device management service yet; provisioning is unavailable', { 'retry-after': '30' });
    }
    o.proxy.use(reg);
    o.proxy.forward(req, res, ip, target.rawPath, target.search, target.path, declared);
  }

  private readonly onResponseClosed = (): void => this.done();

  private done(): void {
    this.inFlight--;
    if (this.inFlight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}

/** Declared Content-Length, or -1 (none or chunked). */
function contentLength(raw: readonly string[]): number {
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === 14 && n.toLowerCase() === 'content-length') return Number(raw[i + 1]);
  }
  return -1;
}
