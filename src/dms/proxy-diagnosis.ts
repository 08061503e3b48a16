import { RelayError } from '../errors.js';
import type { ProxyServer, Route } from './outbound-proxy.js';

/**
 * Names a failure on the way to the DMS through an outbound proxy, for the admin: which hop
 * failed (the proxy itself, its authentication, its policy, the DMS beyond it, the TLS inside
 * the tunnel, the WebSocket upgrade) with the catalogued code. Direct routes get undefined:
 * their failures keep the DMS client's own codes.
 *
 * Through a tunnel the relay never resolves or dials the DMS host itself (the proxy does), so a
 * resolve or connect error can only concern the proxy.
 */

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT']);
/** OpenSSL's verdicts for a chain that does not end in a trusted root: what a re-signing proxy causes. */
export const TLS_UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

interface Seen {
  readonly codes: string[];
  readonly messages: string[];
}

/** Every code and message in an error, its causes and (for AggregateError) its parts. */
function walk(err: unknown, out: Seen = { codes: [], messages: [] }, depth = 0): Seen {
  if (depth > 6 || typeof err !== 'object' || err === null) return out;
  const e = err as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string') out.codes.push(e.code);
  if (typeof e.message === 'string') out.messages.push(e.message);
  if (Array.isArray(e.errors)) for (const x of e.errors) walk(x, out, depth + 1);
  walk(e.cause, out, depth + 1);
  return out;
}

/** The proxy's status answer to CONNECT, as undici's ProxyAgent reports a refused tunnel. */
export function connectStatusOf(err: unknown): number | undefined {
  for (const m of walk(err).messages) {
    const r = /Proxy response \((\d{3})\) !== 200/.exec(m);
    if (r) return Number(r[1]);
  }
  return undefined;
}

function hostOf(target: string | URL): string {
  try {
    return new URL(String(target)).host;
  } catch {
    return String(target);
  }
}

/** The proxy's answer to our CONNECT (anything but 200), named. */
export function diagnoseConnectStatus(status: number, proxy: ProxyServer, target: string | URL, cause?: unknown): RelayError {
  const host = hostOf(target);
  const opts = cause !== undefined ? { cause } : undefined;
  // 407 is the standard answer; tinyproxy (and some others) answer a wrong password with 401.
  if (status === 407 || status === 401) {
    const who = proxy.user !== undefined ? `the credentials of user "${proxy.user}" were refused` : 'it wants credentials and none are configured';
    return new RelayError(
      'PROXY_AUTH_FAILED',
      `the outbound proxy ${proxy.shown} answered CONNECT ${host} with HTTP ${status}: ${who} (outboundProxy.credentialsFile, or user:password in the proxy URL)`,
      opts,
    );
  }
  if (status === 502 || status === 503 || status === 504)
    return new RelayError(
      'DMS_UNREACHABLE_BEYOND_PROXY',
      `the outbound proxy ${proxy.shown} could not reach ${host} (HTTP ${status} to CONNECT): the DMS or the proxy's path to it is down`,
      opts,
    );
  return new RelayError(
    'PROXY_CONNECT_REFUSED',
    `the outbound proxy ${proxy.shown} refused to open a tunnel to ${host} (HTTP ${status} to CONNECT): its policy blocks this host or port; ask for HTTPS to ${host} to be allowed`,
    opts,
  );
}

/** A failed request or connection to `target` over `route`, named for the admin; undefined when the route is direct or the error is none of these. */
export function diagnoseProxyFailure(err: unknown, route: Route, target: string | URL): RelayError | undefined {
  const proxy = route.proxy;
  if (!proxy) return undefined;
  const status = connectStatusOf(err);
  if (status !== undefined) return diagnoseConnectStatus(status, proxy, target, err);
  const seen = walk(err);
  const host = hostOf(target);
  const tls = seen.codes.find((c) => TLS_UNTRUSTED.has(c));
  if (tls)
    return new RelayError(
      'DMS_TLS_UNTRUSTED_BEHIND_PROXY',
      `the certificate ${host} presented through the outbound proxy ${proxy.shown} is not trusted (${tls}): the proxy probably re-signs TLS; put its CA (PEM) in dmsCaFile`,
      { cause: err },
    );
  const unreachable = seen.codes.find((c) => UNREACHABLE.has(c));
  if (unreachable)
    return new RelayError('PROXY_UNREACHABLE', `cannot reach the outbound proxy ${proxy.shown} (${unreachable}${seen.messages[0] ? `: ${seen.messages[0]}` : ''})`, { cause: err });
  return undefined;
}

/**
 * The control channel's upgrade was answered `upgradeStatus` instead of 101 over `route`;
 * `connectStatus` is the proxy's answer to the tunnel's CONNECT (https-proxy-agent replays a
 * refused CONNECT's answer as if it were the upgrade's). Undefined: the DMS answered, and its
 * own codes apply (401 token refused, 503 unavailable).
 */
export function diagnoseUpgradeAnswer(route: Route, connectStatus: number | undefined, upgradeStatus: number, target: string | URL): RelayError | undefined {
  const proxy = route.proxy;
  if (!proxy) return undefined;
  if (connectStatus !== undefined && connectStatus !== 200) return diagnoseConnectStatus(connectStatus, proxy, target);
  if (upgradeStatus === 401 || upgradeStatus === 503) return undefined;
  return new RelayError(
    'PROXY_WEBSOCKET_REFUSED',
    `the control-channel upgrade to ${hostOf(target)} through the outbound proxy ${proxy.shown} was answered HTTP ${upgradeStatus} instead of 101: the proxy probably strips or refuses WebSocket upgrades; allow wss to ${hostOf(target)} on the proxy`,
  );
}

/** A ws error before the upgrade completed through a proxy whose tunnel opened: the upgrade was mangled on the way. */
export function diagnoseUpgradeError(err: unknown, route: Route, target: string | URL): RelayError | undefined {
  const named = diagnoseProxyFailure(err, route, target);
  if (named || !route.proxy) return named;
  const m = walk(err).messages.join(' ');
  if (/Invalid Upgrade header|Sec-WebSocket-Accept|Unexpected server response|socket hang up|Invalid WebSocket frame/i.test(m))
    return new RelayError(
      'PROXY_WEBSOCKET_REFUSED',
      `the control-channel upgrade to ${hostOf(target)} through the outbound proxy ${route.proxy.shown} failed (${walk(err).messages[0] ?? 'no detail'}): the proxy probably strips or refuses WebSocket upgrades; allow wss to ${hostOf(target)} on the proxy`,
      { cause: err },
    );
  return undefined;
}
