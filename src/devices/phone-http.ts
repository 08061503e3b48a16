import type { IncomingMessage } from 'node:http';
import { Agent, errors as undiciErrors } from '../core/undici.js';
import { DeviceError } from './errors.js';
import type { DeviceTarget } from './driver.js';
import { phoneConnector, type PinStore, type TlsPolicy } from './tls-policy.js';
import { timeouts } from '../core/timeouts.js';

/**
 * HTTP to and from phones, whatever their vendor: the connection policy (one connection per
 * phone, closed soon after it goes idle, TLS per devices.tlsPolicy), what a transport failure
 * means for resending, and bounded reading of what phones post to the relay.
 */

export interface PhoneAgentOptions {
  readonly tlsPolicy: TlsPolicy;
  readonly caFile?: string | undefined;
  readonly requestTimeoutMs: number;
  readonly pins: PinStore;
  /** How long an idle connection to one phone is kept for the next request. */
  readonly keepAliveMs?: number;
}

/**
 * One undici Agent keeps one pool per phone origin with a single connection (one request in
 * flight per phone), closed after a short idle time so 50,000 phones do not mean 50,000 open
 * sockets.
 */
export function createPhoneAgent(opts: PhoneAgentOptions): Agent {
  return new Agent({
    connections: 1,
    pipelining: 1,
    keepAliveTimeout: opts.keepAliveMs ?? timeouts.deviceIdle.ms,
    keepAliveMaxTimeout: opts.keepAliveMs ?? timeouts.deviceIdle.ms,
    headersTimeout: opts.requestTimeoutMs,
    bodyTimeout: opts.requestTimeoutMs,
    connect: phoneConnector({ policy: opts.tlsPolicy, caFile: opts.caFile, timeoutMs: Math.min(opts.requestTimeoutMs, timeouts.deviceConnect.ms), pins: opts.pins }),
  });
}

/** https://{ip}:{port}, with the target's port or the vendor's default. */
export function phoneOrigin(t: Pick<DeviceTarget, 'ip' | 'port'>, defaultPort: number, scheme: 'https' | 'http' = 'https'): string {
  const host = t.ip.includes(':') ? `[${t.ip}]` : t.ip;
  return `${scheme}://${host}:${t.port ?? defaultPort}`;
}

const NEVER_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);
const TLS_TRUST = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;

/** Maps a transport failure to whether the request can have reached the phone. */
export function classifyTransportError(err: unknown, where: string): DeviceError {
  if (err instanceof DeviceError) return err;
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  const msg = err instanceof Error ? err.message : String(err);
  if (NEVER_SENT.has(code) || err instanceof undiciErrors.ConnectTimeoutError)
    return new DeviceError('CONNECT_FAILED', `${where}: cannot connect (${code || msg})`, { reached: false, cause: err });
  if (TLS_TRUST.test(code)) return new DeviceError('TLS_UNTRUSTED', `${where}: certificate not trusted (${code})`, { reached: false, cause: err });
  if (
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))
  ) {
    return new DeviceError('TIMEOUT', `${where}: no answer in time`, { reached: true, cause: err });
  }
  return new DeviceError('CONNECTION_LOST', `${where}: connection lost (${code || msg})`, { reached: true, cause: err });
}

/** A Retry-After header (seconds or an HTTP date) as milliseconds from now. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Parses a phone's answer that must be a JSON object; BAD_RESPONSE otherwise. */
export function parseJsonObject(text: string, where: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new DeviceError('BAD_RESPONSE', `${where}: answer is not JSON`, { reached: true });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new DeviceError('BAD_RESPONSE', `${where}: answer is not a JSON object`, { reached: true });
  return parsed as Record<string, unknown>;
}

/**
 * Reads what a phone posted to the relay, up to `maxBytes`. A bigger body stops being read
 * (nothing past the bound is buffered) but the request is left open, so the caller can still
 * answer 413 before it destroys the request.
 */
export function readBoundedBody(req: IncomingMessage, maxBytes: number): Promise<{ ok: true; body: Buffer } | { ok: false; bytes: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      req.off('data', onData).off('end', onEnd).off('error', onError);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        done();
        req.pause();
        resolve({ ok: false, bytes: size });
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => {
      done();
      resolve({ ok: true, body: Buffer.concat(chunks) });
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    req.on('data', onData).on('end', onEnd).on('error', onError);
  });
}
