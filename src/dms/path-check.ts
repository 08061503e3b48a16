import { lookup } from 'node:dns/promises';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type DetailedPeerCertificate, type SecureContext, type TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { request } from '../core/undici.js';
import { errorCatalogue, type ErrorCode } from '../core/error-catalogue.js';
import { timeouts } from '../core/timeouts.js';
import { errorMessage, RelayError } from '../errors.js';
import { clockSkewFromTlsError } from '../management-agent/clock-skew.js';
import type { DmsClient } from './client.js';
import type { ProxyServer } from './outbound-proxy.js';
import { diagnoseConnectStatus, diagnoseProxyFailure, TLS_UNTRUSTED } from './proxy-diagnosis.js';

/** One step of the path to the DMS, as `cloud-relay doctor` prints it. */
export interface PathStep {
  readonly step: string;
  readonly state: 'ok' | 'fail' | 'skipped';
  /** What was found, in words. */
  readonly detail: string;
  /** On failure: the catalogued code and its sentence (what to do). */
  readonly code?: ErrorCode;
  readonly fix?: string;
}

const STEP_MS = timeouts.doctorStep.ms;

function fail(step: string, code: ErrorCode, detail: string): PathStep {
  return { step, state: 'fail', detail, code, fix: errorCatalogue[code].sentence };
}

function failWith(step: string, err: RelayError): PathStep {
  return fail(step, err.code, err.message);
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what}: no answer within ${STEP_MS / 1000} s`), { code: 'ETIMEDOUT' })), STEP_MS);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** A TCP (or TLS, for an https:// proxy) connection to `host:port`. */
function dial(host: string, port: number, o: { tls?: { servername?: string; secureContext: SecureContext } } = {}): Promise<Socket> {
  return withTimeout(
    new Promise<Socket>((resolve, reject) => {
      const s: Socket = o.tls
        ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: o.tls.servername ?? host }), secureContext: o.tls.secureContext }, () => resolve(s))
        : netConnect({ host, port }, () => resolve(s));
      s.once('error', reject);
    }),
    `connecting to ${host}:${port}`,
  );
}

/** Sends CONNECT through `proxy` and returns the proxy's status and the socket (a tunnel when 200). */
async function openTunnel(client: DmsClient, proxy: ProxyServer, host: string, port: number): Promise<{ status: number; socket: Socket }> {
  const socket = await dial(proxy.url.hostname.replace(/^\[|\]$/g, ''), Number(proxy.url.port) || (proxy.url.protocol === 'https:' ? 443 : 80), {
    ...(proxy.url.protocol === 'https:' ? { tls: { secureContext: client.trust.secureContext } } : {}),
  });
  const target = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${proxy.authorization ? `Proxy-Authorization: ${proxy.authorization}\r\n` : ''}\r\n`);
  const head = await withTimeout(
    new Promise<string>((resolve, reject) => {
      let buf = '';
      const onData = (c: Buffer) => {
        buf += c.toString('latin1');
        if (buf.includes('\r\n\r\n')) {
          socket.off('data', onData);
          socket.pause();
          resolve(buf);
        }
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.once('end', () => reject(new Error('the proxy closed the connection without answering CONNECT')));
    }),
    `the proxy's answer to CONNECT ${target}`,
  );
  const status = Number(/^HTTP\/\d(?:\.\d)? (\d{3})/.exec(head)?.[1] ?? 0);
  return { status, socket };
}

function commonName(subject: Record<string, string | string[] | undefined> | undefined): string {
  const cn = subject?.CN;
  const o = subject?.O;
  return [Array.isArray(cn) ? cn[0] : cn, Array.isArray(o) ? o[0] : o].filter((x) => x).join(', ') || '(no name)';
}

/** The chain's last certificate (the root, or the highest one presented). */
function topOf(cert: DetailedPeerCertificate): DetailedPeerCertificate {
  let c = cert;
  for (let i = 0; i < 10 && c.issuerCertificate && c.issuerCertificate !== c && c.issuerCertificate.fingerprint256 !== c.fingerprint256; i++) c = c.issuerCertificate;
  return c;
}

/** Fingerprints of the certificates in dmsCaFile (the last entry of the trust list), to say whose CA vouched. */
function extraCaFingerprints(client: DmsClient): Set<string> {
  const pem = client.trust.ca?.at(-1);
  const out = new Set<string>();
  for (const block of pem?.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
    try {
      out.add(new X509Certificate(block).fingerprint256);
    } catch {
      // a block OpenSSL cannot read trusts nothing either
    }
  }
  return out;
}

async function handshake(socket: Socket, host: string, client: DmsClient, verify: boolean): Promise<TLSSocket> {
  return withTimeout(
    new Promise<TLSSocket>((resolve, reject) => {
      const t = tlsConnect({ socket, ...(isIP(host) ? {} : { servername: host }), secureContext: client.trust.secureContext, rejectUnauthorized: verify }, () => resolve(t));
      t.once('error', reject);
    }),
    `TLS handshake with ${host}`,
  );
}

/**
 * Walks the path from this machine to the DMS the way the relay takes it, one step at a time:
 * the route (which proxy and why), DNS, TCP or the proxy's CONNECT, TLS (and whose CA vouched),
 * the HTTP API through the relay's own transport, and the control channel's WebSocket upgrade.
 * A failed step names its catalogued code; the steps after it are skipped.
 */
export async function checkDmsPath(client: DmsClient): Promise<PathStep[]> {
  const steps: PathStep[] = [];
  const base = new URL(client.baseUrl);
  const host = base.hostname.replace(/^\[|\]$/g, '');
  const port = Number(base.port) || 443;
  const route = client.route();
  const proxy = route.proxy;
  const skipRest = (names: string[]) => {
    for (const n of names) steps.push({ step: n, state: 'skipped', detail: 'needs the step above' });
    return steps;
  };
  const LATER = ['tcp', 'tls', 'api', 'websocket'];

  steps.push({ step: 'proxy', state: 'ok', detail: route.why });

  // DNS: through a tunnel the proxy resolves the DMS name; the relay resolves only the proxy's.
  const dnsHost = proxy ? proxy.url.hostname.replace(/^\[|\]$/g, '') : host;
  if (isIP(dnsHost)) {
    steps.push({ step: 'dns', state: 'ok', detail: `${dnsHost} is an address (nothing to resolve)${proxy ? `; the proxy resolves ${host}` : ''}` });
  } else {
    try {
      const addrs = await withTimeout(lookup(dnsHost, { all: true }), `resolving ${dnsHost}`);
      steps.push({ step: 'dns', state: 'ok', detail: `${dnsHost} → ${addrs.map((a) => a.address).join(', ')}${proxy ? `; the proxy resolves ${host}` : ''}` });
    } catch (err) {
      steps.push(fail('dns', proxy ? 'PROXY_UNREACHABLE' : 'DMS_UNREACHABLE', `cannot resolve ${dnsHost}${proxy ? ' (the outbound proxy)' : ''}: ${errorMessage(err)}`));
      return skipRest(LATER);
    }
  }

  // TCP, or the proxy's CONNECT.
  let socket: Socket;
  const reopen = async (): Promise<Socket> => {
    if (!proxy) return dial(host, port);
    const t = await openTunnel(client, proxy, host, port);
    if (t.status !== 200) {
      t.socket.destroy();
      throw diagnoseConnectStatus(t.status, proxy, client.baseUrl);
    }
    return t.socket;
  };
  try {
    socket = await reopen();
    steps.push({ step: 'tcp', state: 'ok', detail: proxy ? `the proxy ${proxy.shown} opened a tunnel to ${host}:${port} (CONNECT 200)` : `connected to ${host}:${port}` });
  } catch (err) {
    const named = err instanceof RelayError ? err : proxy ? diagnoseProxyFailure(err, route, client.baseUrl) : undefined;
    steps.push(
      named
        ? failWith('tcp', named)
        : fail('tcp', proxy ? 'PROXY_UNREACHABLE' : 'DMS_UNREACHABLE', `cannot connect to ${proxy ? proxy.shown : `${host}:${port}`}: ${errorMessage(err)}`),
    );
    return skipRest(LATER.slice(1));
  }

  // TLS, verified against the relay's one trust store; on failure, look again without verifying to name the issuer.
  try {
    const t = await handshake(socket, host, client, true);
    const cert = t.getPeerCertificate(true);
    const top = topOf(cert);
    const fromFile = extraCaFingerprints(client).has(top.fingerprint256) || extraCaFingerprints(client).has(cert.fingerprint256);
    t.destroy();
    steps.push({
      step: 'tls',
      state: 'ok',
      detail: `${commonName(cert.subject)} issued by ${commonName(cert.issuer)}; trusted through ${fromFile ? 'dmsCaFile' : 'the system CAs'} (root ${commonName(top.subject)}), valid until ${new Date(cert.valid_to).toISOString()}`,
    });
  } catch (err) {
    socket.destroy();
    const skew = clockSkewFromTlsError(err, Date.now());
    if (skew) {
      steps.push(failWith('tls', skew));
      return skipRest(LATER.slice(2));
    }
    let presented = '';
    try {
      const again = await handshake(await reopen(), host, client, false);
      const c = again.getPeerCertificate(true);
      presented = `; ${host} presented ${commonName(c.subject)} issued by ${commonName(c.issuer)}`;
      again.destroy();
    } catch {
      // the second look is best effort
    }
    const named = diagnoseProxyFailure(err, route, client.baseUrl);
    const code = (err as { code?: unknown }).code;
    if (named) steps.push(fail('tls', named.code, `${named.message}${presented}`));
    else if (typeof code === 'string' && TLS_UNTRUSTED.has(code)) steps.push(fail('tls', 'DMS_TLS_UNTRUSTED', `the DMS certificate is not trusted (${code})${presented}`));
    else steps.push(fail('tls', 'DMS_UNREACHABLE', `TLS with ${host} failed: ${errorMessage(err)}${presented}`));
    return skipRest(LATER.slice(2));
  }

  // The HTTP API through the relay's own transport: any answer is the DMS answering.
  const apiUrl = client.url('api/v1/relays/register');
  try {
    const res = await request(apiUrl, { method: 'GET', dispatcher: client.api, signal: AbortSignal.timeout(STEP_MS) });
    await res.body.dump();
    steps.push({ step: 'api', state: 'ok', detail: `GET ${apiUrl} answered HTTP ${res.statusCode} (the DMS API answers)` });
  } catch (err) {
    steps.push(failWith('api', client.unreachable(err)));
    return skipRest(LATER.slice(3));
  }

  // The control channel's upgrade, without a token: the DMS answering 401 proves the upgrade reaches it.
  const wsUrl = `${client.baseUrl.replace(/^https:/, 'wss:')}api/v1/relays/doctor/control`;
  steps.push(await upgradeStep(client, wsUrl));
  return steps;
}

async function upgradeStep(client: DmsClient, wsUrl: string): Promise<PathStep> {
  const ws = new WebSocket(wsUrl, 'relay.v1', { ...client.webSocketOptions(wsUrl), handshakeTimeout: STEP_MS, followRedirects: false, perMessageDeflate: false });
  return new Promise<PathStep>((resolve) => {
    let done = false;
    const finish = (s: PathStep) => {
      if (done) return;
      done = true;
      ws.terminate();
      resolve(s);
    };
    ws.on('unexpected-response', (req: object, res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      res.resume();
      const named = client.upgradeRefusal(req, status, wsUrl);
      if (named) finish(failWith('websocket', named));
      else if (status === 401) finish({ step: 'websocket', state: 'ok', detail: `the upgrade reached the DMS (HTTP 401 without a token, as expected)` });
      else finish(fail('websocket', 'CONTROL_UPGRADE_REFUSED', `the DMS answered the upgrade with HTTP ${status}`));
    });
    ws.on('open', () => finish({ step: 'websocket', state: 'ok', detail: 'the upgrade reached the DMS (101 Switching Protocols)' }));
    ws.on('error', (err: Error) => {
      const named = client.upgradeError(err, wsUrl);
      finish(named ? failWith('websocket', named) : fail('websocket', 'CONTROL_ERROR', `control-channel upgrade failed: ${err.message}`));
    });
  });
}
