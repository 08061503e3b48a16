import type { Agent as HttpAgent } from 'node:http';
import type { SecureContext } from 'node:tls';
import type { Dispatcher } from 'undici';
import { request } from '../core/undici.js';
import type { Clock } from '../core/clock.js';
import { RelayError, errorMessage } from '../errors.js';
import { timeouts } from '../core/timeouts.js';
import { clockSkewFromTlsError } from '../management-agent/clock-skew.js';
import { dmsDispatcher, dmsWebSocketAgent, tunnelAnswer, type LaneOptions } from './transport.js';
import { diagnoseProxyFailure, diagnoseUpgradeAnswer, diagnoseUpgradeError } from './proxy-diagnosis.js';
import { loadDmsTrust, type DmsTrust } from './trust.js';
import { OutboundProxy, type OutboundProxySettings, type ProxyEnvironment, type Route } from './outbound-proxy.js';

export interface DmsResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: unknown;
}

/** The bearer token's holder (the registration client), plugged in once it exists. */
export interface DmsAuthority {
  current(): { readonly relayId: string; readonly token: string } | undefined;
  /** The DMS refused the token (401 or close 4003): forget it and register again. */
  invalidate(reason: string): void;
}

export interface DmsClientOptions {
  readonly dmsUrl: string;
  /** The trust store (loadDmsTrust), read once per process. */
  readonly trust: DmsTrust;
  /** The outbound proxy choice (default: every connection direct). */
  readonly proxy?: OutboundProxy;
  readonly clock: Clock;
  /** Headers/body timeout of API calls (register, heartbeat, catalogue). */
  readonly apiTimeoutMs: number;
  /** Connections per DMS origin for bulk transfers (image downloads, access checks, file uploads). */
  readonly bulkConnections: number;
}

const MAX_RESPONSE_BYTES = 1024 * 1024;
const KEEP_ALIVE_MS = timeouts.dmsIdle.ms;

/**
 * The relay's one client of the DMS: every conversation with a DMS host goes through it —
 * registration and heartbeats, the control channel's upgrade, the image catalogue and image
 * downloads, file uploads, and the provisioning pass-through. It owns the base URL, the
 * bearer token (through the registration client), what a 401 means (register again), the
 * one trust store, and the dispatchers (all made by transport.ts, where an outbound proxy
 * plugs in).
 *
 * Traffic runs in lanes so that a slow lane never starves another: `api` (a few keep-alive
 * connections for small JSON calls: a heartbeat never queues behind a 30 GB image), `bulk`
 * (images, access checks, uploads) and one pool per provisioning origin for the pass-through.
 */
export class DmsClient {
  /** The DMS base URL, always ending in `/`. */
  readonly baseUrl: string;
  readonly origin: string;
  readonly trust: DmsTrust;
  readonly proxy: OutboundProxy;
  /** Small JSON calls. */
  readonly api: Dispatcher;
  private bulkLane: Dispatcher | undefined;
  private authority: DmsAuthority | undefined;
  private readonly pools = new Set<Dispatcher>();

  constructor(private readonly o: DmsClientOptions) {
    this.baseUrl = o.dmsUrl.endsWith('/') ? o.dmsUrl : `${o.dmsUrl}/`;
    this.origin = new URL(this.baseUrl).origin;
    this.trust = o.trust;
    this.proxy = o.proxy ?? OutboundProxy.none();
    this.api = dmsDispatcher(o.trust, this.proxy, { connections: 4, keepAliveTimeoutMs: KEEP_ALIVE_MS, headersTimeoutMs: o.apiTimeoutMs, bodyTimeoutMs: o.apiTimeoutMs });
  }

  /**
   * Reads `dmsCaFile` (the only place the relay does), decides the outbound proxy from the
   * `outboundProxy` settings and the standard variables loadConfig captured, and builds the client.
   */
  static open(
    config: { dmsUrl: string; dmsCaFile?: string | undefined; outboundProxy?: OutboundProxySettings; proxyEnvironment?: ProxyEnvironment | undefined },
    o: { clock: Clock; apiTimeoutMs: number; bulkConnections: number },
  ): DmsClient {
    const proxy = OutboundProxy.from(config.outboundProxy ?? {}, config.proxyEnvironment ?? {});
    return new DmsClient({ dmsUrl: config.dmsUrl, trust: loadDmsTrust(config.dmsCaFile), proxy, ...o });
  }

  /** Image downloads, access checks against the provisioning server, file uploads. */
  get bulk(): Dispatcher {
    return (this.bulkLane ??= dmsDispatcher(this.trust, this.proxy, { connections: this.o.bulkConnections, keepAliveTimeoutMs: KEEP_ALIVE_MS }));
  }

  /** How a connection to `url` (default: the DMS base URL) is made, and why. */
  route(url: string = this.baseUrl): Route {
    return this.proxy.routeFor(url);
  }

  /** `path` resolved against the DMS base URL (a leading `/` does not drop the base's path). */
  url(path: string): string {
    return new URL(path.replace(/^\//, ''), this.baseUrl).toString();
  }

  /** `{base}/api/v1/relays/{relayId}/…segments`, each segment encoded. */
  relayUrl(relayId: string, ...segments: string[]): string {
    return this.url(['api/v1/relays', relayId, ...segments].map((s, i) => (i === 0 ? s : encodeURIComponent(s))).join('/'));
  }

  useAuthority(authority: DmsAuthority): void {
    this.authority = authority;
  }

  /** The current relay id and token, or undefined while not registered. */
  registration(): { readonly relayId: string; readonly token: string } | undefined {
    return this.authority?.current();
  }

  /** The DMS answered 401 to our token: register again (PROTOCOL §1). */
  tokenRejected(reason: string): void {
    this.authority?.invalidate(reason);
  }

  /** Headers for a request to `url`: the bearer token only on the DMS's own origin (PROTOCOL §5). */
  authHeaders(url: string): Record<string, string> {
    const reg = this.authority?.current();
    return reg && new URL(url).origin === this.origin ? { authorization: `Bearer ${reg.token}` } : {};
  }

  /** Options for the control channel's WebSocket (`ws`) to `url`: the shared TLS context and, when a proxy applies, its tunnel agent. */
  webSocketOptions(url: string): { readonly secureContext: SecureContext; readonly agent?: HttpAgent } {
    const agent = dmsWebSocketAgent(this.trust, this.proxy, url);
    return { secureContext: this.trust.secureContext, ...(agent ? { agent } : {}) };
  }

  /** The outbound proxy's part in a failed request to `url` (unreachable, 407, policy, re-signed TLS), or undefined (direct, or not the proxy's doing). */
  proxyProblem(err: unknown, url: string): RelayError | undefined {
    return diagnoseProxyFailure(err, this.route(url), url);
  }

  /**
   * The control channel's upgrade to `url` was answered `status` instead of 101: named when the
   * answer came from the outbound proxy (its 407/403 to CONNECT) or the proxy seems to block
   * WebSocket; undefined when the DMS answered (its own codes apply).
   */
  upgradeRefusal(req: object, status: number, url: string): RelayError | undefined {
    return diagnoseUpgradeAnswer(this.route(url), tunnelAnswer(req), status, url);
  }

  /** A control-channel error before the upgrade completed, named when the outbound proxy is the cause. */
  upgradeError(err: unknown, url: string): RelayError | undefined {
    return diagnoseUpgradeError(err, this.route(url), url);
  }

  /** A pool for the provisioning pass-through to one origin; closed with the client. */
  passThroughPool(origin: string, lane: LaneOptions): Dispatcher {
    const pool = dmsDispatcher(this.trust, this.proxy, lane, origin);
    this.pools.add(pool);
    return pool;
  }

  /** Closes a pool from passThroughPool (when the provisioning URL moves to another origin). */
  async releasePool(pool: Dispatcher, how: 'close' | 'destroy' = 'close'): Promise<void> {
    this.pools.delete(pool);
    await (how === 'close' ? pool.close() : pool.destroy()).catch(() => undefined);
  }

  /** POSTs JSON to the API. Network and TLS failures become RelayError (ClockSkewError for a wrong local clock). */
  async postJson(path: string, body: unknown, token?: string): Promise<DmsResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    let res;
    try {
      res = await request(this.url(path), { method: 'POST', body: JSON.stringify(body), headers, dispatcher: this.api, signal: AbortSignal.timeout(this.o.apiTimeoutMs * 2) });
    } catch (err) {
      throw this.unreachable(err);
    }
    // Decoded once at the end: a multi-byte character may straddle two chunks.
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) {
        res.body.destroy();
        throw new RelayError('DMS_RESPONSE_TOO_LARGE', `the DMS answered ${path} with more than ${MAX_RESPONSE_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
    const text = Buffer.concat(chunks, size).toString('utf8');
    let parsed: unknown = undefined;
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    return { status: res.statusCode, headers: res.headers, body: parsed };
  }

  /**
   * A failure to reach `url` (default: the DMS API), named for the admin: a wrong local clock,
   * or through an outbound proxy the hop that failed (proxy, its credentials, its policy, the
   * DMS beyond it, TLS re-signed by the proxy); otherwise DMS_UNREACHABLE.
   */
  unreachable(err: unknown, url: string = this.baseUrl): RelayError {
    const skew = clockSkewFromTlsError(err, this.o.clock.now());
    if (skew) return skew;
    const named = diagnoseProxyFailure(err, this.route(url), url);
    if (named) return named;
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return new RelayError('DMS_UNREACHABLE', `cannot reach the DMS at ${this.o.dmsUrl}: ${errorMessage(err)}${cause}`, { cause: err });
  }

  async close(): Promise<void> {
    const all = [this.api, ...(this.bulkLane ? [this.bulkLane] : []), ...this.pools];
    this.pools.clear();
    await Promise.all(all.map((d) => d.close().catch(() => undefined)));
  }
}
