import type { Agent as HttpAgent } from 'node:http';
import { Agent, Pool, type Dispatcher } from 'undici';
import type { DmsTrust } from './trust.js';

/** Connection settings of one lane of DMS traffic. */
export interface LaneOptions {
  readonly connections: number;
  readonly keepAliveTimeoutMs: number;
  readonly headersTimeoutMs?: number;
  readonly bodyTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly pipelining?: number;
}

/**
 * Every connection the relay opens to a DMS host (API, images, file uploads, provisioning
 * pass-through) comes from this function, and every control-channel WebSocket from
 * dmsWebSocketAgent below: these two are the one place where the route to the DMS is decided.
 *
 * OUTBOUND PROXY: this is where it plugs in. With a proxy configured (and the target not
 * excluded by NO_PROXY), return an undici ProxyAgent (HTTP CONNECT for https targets) built with
 * `requestTls: { secureContext: trust.secureContext }` and the same lane options, instead of
 * the Agent/Pool below; callers already pass `origin` in every dispatch, so a multi-origin
 * ProxyAgent can stand in for the single-origin Pool. Nothing else needs to change.
 *
 * `origin` set: a Pool pinned to that origin (the pass-through's hot path: one origin, many
 * keep-alive connections). Unset: an Agent with one pool per origin.
 */
export function dmsDispatcher(trust: DmsTrust, lane: LaneOptions, origin?: string): Dispatcher {
  const options = {
    connections: lane.connections,
    keepAliveTimeout: lane.keepAliveTimeoutMs,
    ...(lane.pipelining !== undefined ? { pipelining: lane.pipelining } : {}),
    ...(lane.headersTimeoutMs !== undefined ? { headersTimeout: lane.headersTimeoutMs } : {}),
    ...(lane.bodyTimeoutMs !== undefined ? { bodyTimeout: lane.bodyTimeoutMs } : {}),
    connect: { secureContext: trust.secureContext, ...(lane.connectTimeoutMs !== undefined ? { timeout: lane.connectTimeoutMs } : {}) },
  };
  return origin ? new Pool(origin, options) : new Agent(options);
}

/**
 * The http(s) agent `ws` uses for the control channel to `url`: undefined = connect directly
 * (TLS from the shared trust store, which the caller passes as `secureContext`).
 *
 * OUTBOUND PROXY: return an https-proxy-agent `HttpsProxyAgent` (a CONNECT tunnel) here when a
 * proxy applies to `url`; the upgrade then travels through the tunnel with the same TLS trust.
 */
export function dmsWebSocketAgent(_trust: DmsTrust, _url: string): HttpAgent | undefined {
  return undefined;
}
