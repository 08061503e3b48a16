import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { createSecureContext, type SecureContext } from 'node:tls';
import { Pool, type Dispatcher } from 'undici';
import type { Logger } from '../log.js';
import type { Registration } from '../management-agent/ports.js';
import { errorCode, errorMessage } from '../errors.js';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './forward-headers.js';
import { sendText } from './responses.js';
import type { IpGuard } from './ip-guard.js';
import { relayMetrics } from '../metrics/relay-metrics.js';

export interface ProxySettings {
  readonly upstreamTimeoutMs: number;
  readonly upstreamConnections: number;
  readonly maxUploadBytes: number;
  /** CAs for DMS hosts (src/tls/trust.ts); undefined = system CAs. */
  readonly ca: string[] | undefined;
}

/** Per-request state handed through undici as `opaque` (one object, no closures). */
interface Exchange {
  readonly res: ServerResponse;
  readonly ip: string;
  readonly path: string;
  readonly authorized: boolean;
  readonly guard: IpGuard;
  readonly log: Logger;
  readonly upstreamBase: string;
}

const METHODS_WITH_BODY = new Set(['PUT', 'POST', 'PATCH', 'DELETE']);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

export class UploadTooLarge extends Error {
  readonly code = 'UPLOAD_TOO_LARGE';
}

/** Counts a chunked upload's bytes and fails it once it passes the limit (Content-Length is checked earlier). */
class UploadLimit extends Transform {
  private seen = 0;
  constructor(private readonly max: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.max) cb(new UploadTooLarge(`upload exceeds ${this.max} bytes`));
    else cb(null, chunk);
  }
}

function onUpstreamResponse(this: void, data: Dispatcher.StreamFactoryData<Exchange>): ServerResponse {
  const x = data.opaque;
  const status = data.statusCode;
  if (status === 401 || status === 403 || status === 404) x.guard.recordFailure(x.ip, `${status} ${x.path}`);
  else if (x.authorized && status < 300) x.guard.recordSuccess(x.ip);
  x.res.writeHead(status, downstreamResponseHeaders(data.headers));
  // Counted once the phone has the whole body ('finish'); a cut transfer never finishes. Bodies without Content-Length are not counted.
  const length = status === 204 || status === 304 || x.res.req.method === 'HEAD' ? 0 : Number(data.headers['content-length']);
  if (length > 0) x.res.once('finish', () => relayMetrics.bytesServed('proxy', length));
  return x.res;
}

function onUpstreamDone(this: void, err: Error | null, data: Dispatcher.StreamData<Exchange>): void {
  if (!err) return;
  const x = data?.opaque;
  if (!x) return;
  const code = errorCode(err) ?? 'UPSTREAM_ERROR';
  if (x.res.headersSent) {
    // Mid-body: the phone sees a cut transfer, never a truncated file posing as complete.
    if (!x.res.destroyed) x.log.warn({ ip: x.ip, path: x.path, code, err: errorMessage(err) }, 'provisioning transfer failed mid-body');
    x.res.destroy();
    return;
  }
  if (err instanceof UploadTooLarge) {
    x.log.warn({ ip: x.ip, path: x.path, code: 'UPLOAD_TOO_LARGE' }, 'upload refused: larger than proxy.maxUploadBytes');
    sendText(x.res, 413, 'Upload too large', { connection: 'close' });
    return;
  }
  const timeout = TIMEOUT_CODES.has(code);
  x.log.warn({ ip: x.ip, path: x.path, upstream: x.upstreamBase, code, err: errorMessage(err) }, timeout ? 'provisioning server timed out' : 'provisioning server unreachable');
  sendText(x.res, timeout ? 504 : 502, timeout ? 'Provisioning server timed out' : 'Provisioning server unreachable');
}

/**
 * The provisioning pass-through (PROTOCOL §6): each phone request goes at once to
 * `{provisioningUrl}{path}` over a keep-alive pool, both bodies streamed with backpressure,
 * nothing cached. The pool follows the registration's provisioningUrl.
 */
export class ProvisioningProxy {
  private pool: Pool | undefined;
  private origin = '';
  private prefix = '';
  private base = '';
  private relayId = '';
  private secureContext: SecureContext | undefined;

  constructor(
    private readonly settings: ProxySettings,
    private readonly guard: IpGuard,
    private readonly log: Logger,
  ) {}

  /** Points the pool at the registration's provisioning URL (a new origin gets a new pool). */
  use(reg: Registration): void {
    this.relayId = reg.relayId;
    if (reg.provisioningUrl === this.base) return;
    const url = new URL(reg.provisioningUrl);
    const origin = url.origin;
    this.prefix = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
    this.base = reg.provisioningUrl;
    if (origin === this.origin && this.pool) return;
    const old = this.pool;
    this.origin = origin;
    this.pool = new Pool(origin, {
      connections: this.settings.upstreamConnections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: this.settings.upstreamTimeoutMs,
      bodyTimeout: this.settings.upstreamTimeoutMs,
      // One context for every upstream connection: parsing the ~140 system roots plus the
      // extra CA costs ~20 ms of CPU, which `ca` in the connect options would pay per connection.
      connect: { timeout: Math.min(10_000, this.settings.upstreamTimeoutMs), secureContext: (this.secureContext ??= createSecureContext(this.settings.ca ? { ca: this.settings.ca } : {})) },
    });
    if (old) void old.close().catch(() => undefined);
    this.log.info({ provisioningUrl: this.base }, 'provisioning pass-through points at the DMS');
  }

  /** `declaredLength` is the request's Content-Length, -1 when absent. */
  forward(req: IncomingMessage, res: ServerResponse, ip: string, rawPath: string, search: string, path: string, declaredLength: number): void {
    const pool = this.pool!;
    const method = req.method!;
    const raw = req.rawHeaders;
    let authorized = false;
    let chunked = false;
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i]!;
      if (n.length === 13 && n.toLowerCase() === 'authorization') authorized = true;
      else if (n.length === 17 && n.toLowerCase() === 'transfer-encoding') chunked = true;
    }
    const exchange: Exchange = { res, ip, path, authorized, guard: this.guard, log: this.log, upstreamBase: this.base };
    let body: IncomingMessage | UploadLimit | null = null;
    // Any declared body is forwarded (even on GET), or the upstream would wait for it.
    if (METHODS_WITH_BODY.has(method) || chunked || declaredLength > 0) {
      body = chunked ? req.pipe(new UploadLimit(this.settings.maxUploadBytes)) : req;
    }
    pool.stream<Exchange>(
      {
        path: this.prefix + rawPath.slice(1) + search,
        method: method as Dispatcher.HttpMethod,
        headers: upstreamRequestHeaders(raw, ip, this.relayId),
        body,
        opaque: exchange,
      },
      onUpstreamResponse,
      onUpstreamDone,
    );
  }

  async close(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    this.base = '';
    this.origin = '';
    if (p) await p.close().catch(() => undefined);
  }

  async destroy(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    if (p) await p.destroy().catch(() => undefined);
  }
}
