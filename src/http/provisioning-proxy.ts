import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Logger } from '../log.js';
import type { Registration } from '../core/ports.js';
import { RelayError, errorCode, errorMessage } from '../errors.js';
import { connectionTokens, upstreamRequestHeaders, withoutNamed } from './forward-headers.js';
import { sendText } from './responses.js';
import { HSTS_VALUE } from './security-headers.js';
import type { DmsClient } from '../dms/client.js';
import type { IpGuard } from './ip-guard.js';
import { relayMetrics } from '../metrics/relay-metrics.js';
import { timeouts } from '../core/timeouts.js';

export interface ProxySettings {
  readonly upstreamTimeoutMs: number;
  readonly upstreamConnections: number;
  readonly maxUploadBytes: number;
}

const METHODS_WITH_BODY = new Set(['PUT', 'POST', 'PATCH', 'DELETE']);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export class UploadTooLarge extends RelayError {
  constructor(message: string) {
    super('UPLOAD_TOO_LARGE', message);
  }
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

class PhoneWentAway extends RelayError {
  constructor(message: string) {
    super('PHONE_DISCONNECTED', message);
  }
}

/**
 * One phone request's upstream exchange, as an undici dispatch handler: the response
 * streams straight into the phone's ServerResponse, pausing upstream reads while the phone's
 * socket is full. (The raw handler API avoids undici's stream wrapper and its per-request
 * listeners on the response: this is the relay's hottest path.)
 */
class UpstreamExchange implements Dispatcher.DispatchHandler {
  private abortUpstream: ((err: Error) => void) | undefined;
  private resumeUpstream: (() => void) | undefined;
  private waiting = false;
  private bytes = 0;

  constructor(
    private readonly res: ServerResponse,
    private readonly ip: string,
    private readonly path: string,
    private readonly authorized: boolean,
    private readonly guard: IpGuard,
    private readonly log: Logger,
    private readonly upstreamBase: string,
    /** The outbound proxy's part in a failure (its 407, policy, re-signed TLS), when it has one. */
    private readonly proxyProblem: (err: unknown) => RelayError | undefined,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    this.resumeUpstream = resume;
    if (statusCode === 401 || statusCode === 403 || statusCode === 404) this.guard.recordFailure(this.ip, `${statusCode} ${this.path}`);
    else if (this.authorized && statusCode < 300) this.guard.recordSuccess(this.ip);
    const headers: string[] = [];
    let named: Set<string> | undefined;
    let hsts = false;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1');
      const lower = name.toLowerCase();
      if (lower === 'connection') for (const t of connectionTokens(rawHeaders[i + 1]!.toString('latin1'))) (named ??= new Set()).add(t);
      if (DROP_RESPONSE.has(lower)) continue;
      if (lower === 'strict-transport-security') hsts = true;
      headers.push(name, rawHeaders[i + 1]!.toString('latin1'));
    }
    // HSTS belongs to the relay's host, whose answers these are to the phone (see security-headers.ts).
    if (!hsts) headers.push('Strict-Transport-Security', HSTS_VALUE);
    const res = this.res;
    if (res.destroyed) {
      this.abortUpstream?.(new PhoneWentAway('the phone closed the connection'));
      return false;
    }
    res.writeHead(statusCode, named ? withoutNamed(headers, named) : headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    const res = this.res;
    this.bytes += chunk.length;
    if (res.destroyed) {
      this.abortUpstream?.(new PhoneWentAway('the phone closed the connection'));
      return false;
    }
    if (res.write(chunk)) return true;
    if (!this.waiting) {
      this.waiting = true;
      res.once('drain', this.onDrain);
      res.once('close', this.onDrain);
    }
    return false;
  }

  onComplete(): void {
    // Counted once the phone has the whole body ('finish'); a cut transfer never finishes.
    this.res.end(this.bytes > 0 ? this.onFinished : undefined);
  }

  onError(err: Error): void {
    const res = this.res;
    const code = errorCode(err) ?? 'UPSTREAM_ERROR';
    if (err instanceof PhoneWentAway) return;
    if (res.headersSent) {
      // Mid-body: the phone sees a cut transfer, never a truncated file posing as complete.
      if (!res.destroyed) this.log.warn({ ip: this.ip, path: this.path, code, err: errorMessage(err) }, 'provisioning transfer failed mid-body');
      res.destroy();
      return;
    }
    if (err instanceof UploadTooLarge) {
      this.log.warn({ ip: this.ip, path: this.path, code: 'UPLOAD_TOO_LARGE' }, 'upload refused: larger than proxy.maxUploadBytes');
      sendText(res, 413, 'Upload too large', { connection: 'close' });
      return;
    }
    const named = this.proxyProblem(err);
    if (named) {
      this.log.warn({ ip: this.ip, path: this.path, upstream: this.upstreamBase, code: named.code }, `provisioning server unreachable: ${named.message}`);
      sendText(res, 502, 'Provisioning server unreachable');
      return;
    }
    const timeout = TIMEOUT_CODES.has(code);
    this.log.warn(
      { ip: this.ip, path: this.path, upstream: this.upstreamBase, code, err: errorMessage(err) },
      timeout ? 'provisioning server timed out' : 'provisioning server unreachable',
    );
    sendText(res, timeout ? 504 : 502, timeout ? 'Provisioning server timed out' : 'Provisioning server unreachable');
  }

  private readonly onFinished = (): void => {
    relayMetrics.bytesServed('proxy', this.bytes);
  };

  private readonly onDrain = (): void => {
    this.waiting = false;
    this.res.off('drain', this.onDrain);
    this.res.off('close', this.onDrain);
    if (this.res.destroyed) this.abortUpstream?.(new PhoneWentAway('the phone closed the connection'));
    else this.resumeUpstream?.();
  };
}

/**
 * The provisioning pass-through (PROTOCOL §6): each phone request goes at once to
 * `{provisioningUrl}{path}` over a keep-alive pool, both bodies streamed with backpressure,
 * nothing cached. The pool follows the registration's provisioningUrl.
 */
export class ProvisioningProxy {
  private pool: Dispatcher | undefined;
  private origin = '';
  private prefix = '';
  private base = '';
  private relayId = '';

  constructor(
    private readonly settings: ProxySettings,
    /** Pools come from the DMS client: its trust store, and its route to the DMS. */
    private readonly dms: DmsClient,
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
    this.pool = this.dms.passThroughPool(origin, {
      connections: this.settings.upstreamConnections,
      pipelining: 1,
      keepAliveTimeoutMs: timeouts.dmsIdle.ms,
      headersTimeoutMs: this.settings.upstreamTimeoutMs,
      bodyTimeoutMs: this.settings.upstreamTimeoutMs,
      connectTimeoutMs: Math.min(timeouts.provisioningConnect.ms, this.settings.upstreamTimeoutMs),
    });
    if (old) void this.dms.releasePool(old);
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
    let body: IncomingMessage | UploadLimit | null = null;
    // Any declared body is forwarded (even on GET), or the upstream would wait for it.
    if (METHODS_WITH_BODY.has(method) || chunked || declaredLength > 0) {
      body = chunked ? req.pipe(new UploadLimit(this.settings.maxUploadBytes)) : req;
    }
    pool.dispatch(
      {
        origin: this.origin,
        path: this.prefix + rawPath.slice(1) + search,
        method: method as Dispatcher.HttpMethod,
        headers: upstreamRequestHeaders(raw, ip, this.relayId),
        body,
      },
      new UpstreamExchange(res, ip, path, authorized, this.guard, this.log, this.base, (err) => this.dms.proxyProblem(err, this.base)),
    );
  }

  async close(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    this.base = '';
    this.origin = '';
    if (p) await this.dms.releasePool(p);
  }

  async destroy(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    if (p) await this.dms.releasePool(p, 'destroy');
  }
}
