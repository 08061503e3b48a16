import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import { timeouts } from '../../core/timeouts.js';
import type { Logger } from '../../log.js';
import { RelayError, errorMessage } from '../../errors.js';
import type { ListenAddress } from '../../config/listen.js';
import { DlsError } from '../errors.js';
import type { PhoneEventSink, TlsSource } from '../vendor.js';
import { MAX_WORKPOINT_BYTES, parseWorkpointMessage } from './messages.js';
import { SESSION_COOKIE, type Interactions } from './interactions.js';
import { CutConnections, cutSlowHandshakes } from '../../http/cut-connections.js';
import { PhoneListener, phoneAddressOf } from '../../http/phone-listener.js';

/**
 * The relay's provisioning-service (DLS) port: OpenStage phones post WorkpointMessages here
 * over HTTPS, with the phone port's certificate (hot-swapped with it). Bodies are bounded and
 * parsed before anything else sees them; a bad one is refused with its code and counted.
 */
export interface DlsServerOptions {
  readonly listen: ListenAddress;
  /** A connection must finish its TLS handshake within this (proxy.handshakeTimeoutMs, as on the phone port). */
  readonly handshakeTimeoutMs: number;
  /** Open connections at most (proxy.maxConnections, as on the phone port); further ones are refused. */
  readonly maxConnections: number;
  readonly paths: readonly string[];
  readonly tls: TlsSource;
  readonly interactions: Interactions;
  readonly sink: PhoneEventSink;
  readonly requestTimeoutMs: number;
  readonly log: Logger;
}

const cookieOf = (header: string | undefined): string | undefined => {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, v] = part.trim().split('=', 2);
    if (k === SESSION_COOKIE && v) return v;
  }
  return undefined;
};

export class DlsServer {
  private server: Server | undefined;
  private readonly paths: ReadonlySet<string>;
  /** Connections cut (handshake or headers too slow) or refused over the cap, logged as PHONE_CONNECTIONS_CUT lines. */
  readonly cut: CutConnections;

  constructor(private readonly o: DlsServerOptions) {
    this.paths = new Set(o.paths);
    this.cut = new CutConnections(o.log, 'dls');
  }

  /** The same protections as the phone port: handshake deadline, connection cap, a deep accept queue, cuts counted. */
  async listen(): Promise<AddressInfo> {
    const tls: SecureContextOptions = this.o.tls.current();
    const server = createServer(
      {
        ...tls,
        requestTimeout: this.o.requestTimeoutMs,
        headersTimeout: this.o.requestTimeoutMs,
        keepAliveTimeout: timeouts.phoneIdle.ms,
        handshakeTimeout: this.o.handshakeTimeoutMs,
        maxHeaderSize: 16 * 1024,
      },
      (req, res) => this.onRequest(req, res),
    );
    const handshakeTimedOut = cutSlowHandshakes(server, this.cut);
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (handshakeTimedOut(err, socket)) return;
      if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || err.code === 'HPE_HEADERS_TIMEOUT') this.cut.note('headerTimeouts', phoneAddressOf(socket));
      socket.destroy();
    });
    this.o.tls.onChange((opts) => server.setSecureContext({ ...opts, ticketKeys: server.getTicketKeys() }));
    this.server = server;
    const listener = new PhoneListener({
      name: 'dls',
      listen: this.o.listen,
      server,
      log: this.o.log,
      maxConnections: this.o.maxConnections,
      onDrop: (ip) => this.cut.note('overCap', ip),
    });
    return listener.listen();
  }

  address(): AddressInfo | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a : undefined;
  }

  close(): void {
    this.server?.close();
    this.server?.closeAllConnections();
    this.cut.report();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const ip = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const path = (req.url ?? '').split('?')[0] ?? '';
    const plain = (status: number, text: string): void => {
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' }).end(text + '\n');
    };
    if (!this.paths.has(path)) return plain(404, 'not a DLS path');
    if (req.method !== 'POST') return plain(405, 'POST a WorkpointMessage');
    const cookie = cookieOf(req.headers.cookie);
    const refuse = (err: Error): void => {
      const code = err instanceof RelayError ? err.code : 'DLS_BAD_MESSAGE';
      this.o.log.warn({ ip, code, err: errorMessage(err) }, 'DLS message refused');
      this.o.sink.refused();
      this.o.interactions.failSession(cookie, err);
      plain(code === 'DLS_BODY_TOO_LARGE' || code === 'XML_TOO_LARGE' ? 413 : 400, `${code}: ${errorMessage(err)}`);
    };
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_WORKPOINT_BYTES) {
      req.resume();
      return refuse(new DlsError('DLS_BODY_TOO_LARGE', `a body of ${declared} bytes is over the limit of ${MAX_WORKPOINT_BYTES}`));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_WORKPOINT_BYTES) {
        req.destroy();
        refuse(new DlsError('DLS_BODY_TOO_LARGE', `the body exceeds the limit of ${MAX_WORKPOINT_BYTES} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      if (size > MAX_WORKPOINT_BYTES) return;
      let msg;
      try {
        msg = parseWorkpointMessage(Buffer.concat(chunks));
      } catch (err) {
        return refuse(err instanceof Error ? err : new Error(String(err)));
      }
      this.o.interactions.handle(
        {
          msg,
          ip,
          respond: (status, body, headers = {}) => {
            if (res.headersSent) return;
            res.writeHead(status, body ? { 'content-type': 'text/xml; charset=utf-8', ...headers } : headers).end(body);
          },
        },
        cookie,
      );
    });
  }
}
