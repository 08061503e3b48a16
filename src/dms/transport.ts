import type { Agent as HttpAgent } from 'node:http';
import { createRequire } from 'node:module';
import type { SecureContext } from 'node:tls';
import type { Dispatcher } from 'undici';
import { Agent, Pool, ProxyAgent } from '../core/undici.js';
import type { HttpsProxyAgent } from 'https-proxy-agent';
import type { DmsTrust } from './trust.js';
import type { OutboundProxy, ProxyServer } from './outbound-proxy.js';

/** Connection settings of one lane of DMS traffic. */
export interface LaneOptions {
  readonly connections: number;
  readonly keepAliveTimeoutMs: number;
  readonly headersTimeoutMs?: number;
  readonly bodyTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly pipelining?: number;
}

function laneOptions(lane: LaneOptions) {
  return {
    connections: lane.connections,
    keepAliveTimeout: lane.keepAliveTimeoutMs,
    ...(lane.pipelining !== undefined ? { pipelining: lane.pipelining } : {}),
    ...(lane.headersTimeoutMs !== undefined ? { headersTimeout: lane.headersTimeoutMs } : {}),
    ...(lane.bodyTimeoutMs !== undefined ? { bodyTimeout: lane.bodyTimeoutMs } : {}),
  };
}

/**
 * An HTTP CONNECT tunnel through `proxy` for one lane: the TLS inside the tunnel is verified
 * against the DMS trust store (a proxy that re-signs TLS needs its CA in dmsCaFile).
 */
function tunnel(proxy: ProxyServer, trust: DmsTrust, lane: LaneOptions): Dispatcher {
  const tls = { secureContext: trust.secureContext, ...(lane.connectTimeoutMs !== undefined ? { timeout: lane.connectTimeoutMs } : {}) };
  return new ProxyAgent({
    uri: proxy.url.toString(),
    ...(proxy.authorization ? { token: proxy.authorization } : {}),
    ...laneOptions(lane),
    requestTls: tls,
    // An https:// proxy's own certificate is checked against the same store (corporate proxies carry the corporate CA).
    proxyTls: tls,
  });
}

/**
 * Every connection the relay opens to a DMS host (API, images, file uploads, provisioning
 * pass-through) comes from this function, and every control-channel WebSocket from
 * dmsWebSocketAgent below: these two are the one place where the route to the DMS is decided.
 * Phones never come here, so they never go through the outbound proxy.
 *
 * `origin` set: the route is decided once, for a Pool pinned to that origin (the pass-through's
 * hot path: one origin, many keep-alive connections) or a tunnel. Unset: an Agent with one pool
 * per origin, each origin routed on its first request (a NO_PROXY entry may send one image host
 * direct and the DMS through the proxy).
 */
export function dmsDispatcher(trust: DmsTrust, proxy: OutboundProxy, lane: LaneOptions, origin?: string): Dispatcher {
  const direct = {
    ...laneOptions(lane),
    connect: { secureContext: trust.secureContext, ...(lane.connectTimeoutMs !== undefined ? { timeout: lane.connectTimeoutMs } : {}) },
  };
  if (origin) {
    const route = proxy.routeFor(origin);
    return route.proxy ? tunnel(route.proxy, trust, lane) : new Pool(origin, direct);
  }
  if (!proxy.configured) return new Agent(direct);
  return new Agent({
    ...direct,
    factory: (o: string | URL, opts: object): Dispatcher => {
      const route = proxy.routeFor(String(o));
      return route.proxy ? tunnel(route.proxy, trust, lane) : new Pool(o, opts);
    },
  });
}

/** One https-proxy-agent per proxy server, shared by every control-channel connection. */
const wsAgents = new WeakMap<ProxyServer, HttpsProxyAgent<string>>();
/** The proxy's answer to the CONNECT of each control-channel request (by request). */
const tunnelAnswers = new WeakMap<object, number>();

/**
 * The proxy's status answer to the CONNECT under a control-channel request (ws hands the request
 * to 'unexpected-response'); undefined for a direct connection. https-proxy-agent replays a
 * refused CONNECT's answer as the upgrade's answer, so only this tells a proxy's 407 from the DMS's.
 */
export function tunnelAnswer(req: object): number | undefined {
  return tunnelAnswers.get(req);
}

let httpsProxyAgentClass: typeof HttpsProxyAgent | undefined;
/**
 * https-proxy-agent (with agent-base and debug, ~4 MB resident) is loaded the first time the
 * control channel goes through a proxy: most relays connect directly and never need it. It is
 * CommonJS, so a synchronous require keeps this function synchronous for the channel.
 */
function httpsProxyAgent(): typeof HttpsProxyAgent {
  httpsProxyAgentClass ??= (createRequire(import.meta.url)('https-proxy-agent') as { HttpsProxyAgent: typeof HttpsProxyAgent }).HttpsProxyAgent;
  return httpsProxyAgentClass;
}

/**
 * The http(s) agent `ws` uses for the control channel to `url`: undefined = connect directly.
 * Through a proxy it is an HTTP CONNECT tunnel; the TLS to the DMS inside it uses the context
 * the caller passes to ws as `secureContext` (the shared trust store), which reaches the agent's
 * connect options. `proxyConnect` on the agent reports the proxy's answer to each CONNECT.
 */
export function dmsWebSocketAgent(trust: DmsTrust, proxy: OutboundProxy, url: string): HttpsProxyAgent<string> | undefined {
  const route = proxy.routeFor(url);
  if (!route.proxy) return undefined;
  const server = route.proxy;
  let agent = wsAgents.get(server);
  if (!agent) {
    const Tunnel = httpsProxyAgent();
    agent = new Tunnel(server.url.toString(), {
      headers: server.authorization ? { 'Proxy-Authorization': server.authorization } : {},
      keepAlive: false,
      ...(server.url.protocol === 'https:' ? { secureContext: trust.secureContext as SecureContext } : {}),
    });
    agent.on('proxyConnect', (connect: { statusCode: number }, req: object) => tunnelAnswers.set(req, connect.statusCode));
    wsAgents.set(server, agent);
  }
  return agent satisfies HttpAgent;
}
