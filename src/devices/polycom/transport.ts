import type { Agent, Dispatcher } from 'undici';
import { DeviceError } from '../errors.js';
import type { DeviceAccount, DeviceTarget } from '../driver.js';
import { classifyTransportError, createPhoneAgent, parseJsonObject, phoneOrigin, retryAfterMs, type PhoneAgentOptions } from '../phone-http.js';
import { API_PROBE_PATH, BUSY_BACKOFF_MS, BUSY_STATUS, DEFAULT_USER, NOT_SUPPORTED_STATUS } from './inferred.js';
import { statusReason } from './status-codes.js';

export interface TransportOptions extends PhoneAgentOptions {
  /** The account a target without credentials inherits (setting accounts.polycom). */
  readonly account?: DeviceAccount | undefined;
}

export interface Envelope {
  readonly status: string;
  readonly data: unknown;
  readonly body: Record<string, unknown>;
}

/** The REST API listens on HTTPS 443 unless the target names another port. */
export const origin = (t: DeviceTarget): string => phoneOrigin(t, 443);

/** The target's own credentials win; else the relay-wide account; with neither nothing is sent. */
export function basicAuth(t: DeviceTarget, account?: DeviceAccount): string {
  const c = t.credentials ?? account;
  if (!c)
    throw new DeviceError('NO_CREDENTIALS', `no credentials: the target for ${t.ip} carries none and accounts.polycom sets no default`, {
      reached: false,
    });
  return 'Basic ' + Buffer.from(`${c.user || DEFAULT_USER}:${c.password}`).toString('base64');
}

/** The Polycom REST API over the shared phone connection policy (devices/phone-http.ts). */
export class PolycomTransport {
  readonly agent: Agent;
  private readonly account: DeviceAccount | undefined;

  constructor(opts: TransportOptions) {
    this.agent = createPhoneAgent(opts);
    this.account = opts.account;
  }

  /** A raw request with Basic auth; the caller reads (or dumps) the body. */
  async raw(t: DeviceTarget, method: Dispatcher.HttpMethod, path: string, opts: { body?: string; headers?: Record<string, string> } = {}): Promise<Dispatcher.ResponseData> {
    const where = `${method} ${path} on ${t.ip}`;
    const authorization = basicAuth(t, this.account);
    try {
      return await this.agent.request({
        origin: origin(t),
        method,
        path,
        headers: { authorization, ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
        ...(opts.body !== undefined ? { body: opts.body } : {}),
      });
    } catch (err) {
      throw classifyTransportError(err, where);
    }
  }

  /** A REST call: resolves only with `Status` 2000, otherwise throws a DeviceError saying why. */
  async call(t: DeviceTarget, method: 'GET' | 'POST', path: string, data?: unknown): Promise<Envelope> {
    const where = `${method} ${path} on ${t.ip}`;
    const body = method === 'POST' ? JSON.stringify(data === undefined ? {} : { data }) : undefined;
    const res = await this.raw(t, method, path, body !== undefined ? { body } : {});
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      throw classifyTransportError(err, where);
    }
    if (res.statusCode === 401 || res.statusCode === 403)
      throw new DeviceError('AUTH_FAILED', `${where}: the phone refused the credentials (HTTP ${res.statusCode})`, { reached: true });
    if (res.statusCode === 404) throw await this.explain404(t, path, where);
    const retryAfter = retryAfterMs(res.headers['retry-after']);
    if (res.statusCode === 503 || res.statusCode === 429) {
      throw new DeviceError('BUSY', `${where}: phone busy (HTTP ${res.statusCode})`, { reached: true, retryAfterMs: retryAfter ?? BUSY_BACKOFF_MS });
    }
    if (res.statusCode < 200 || res.statusCode > 299)
      throw new DeviceError('HTTP_ERROR', `${where}: HTTP ${res.statusCode}`, { reached: true, ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}) });
    const obj = parseJsonObject(text, where);
    const status = typeof obj.Status === 'string' ? obj.Status : typeof obj.Status === 'number' ? String(obj.Status) : undefined;
    if (status === undefined) throw new DeviceError('BAD_RESPONSE', `${where}: answer has no Status`, { reached: true });
    if (status === '2000') return { status, data: obj.data, body: obj };
    if (BUSY_STATUS.has(status)) throw new DeviceError('BUSY', `${where}: ${statusReason(status)}`, { reached: true, retryAfterMs: retryAfter ?? BUSY_BACKOFF_MS });
    if (NOT_SUPPORTED_STATUS.has(status)) throw new DeviceError('NOT_SUPPORTED', `${where}: ${statusReason(status)}`, { reached: true });
    throw new PhoneStatusError(status, `${where}: ${statusReason(status)}`);
  }

  private async explain404(t: DeviceTarget, path: string, where: string): Promise<DeviceError> {
    if (path !== API_PROBE_PATH) {
      try {
        const probe = await this.raw(t, 'GET', API_PROBE_PATH);
        await probe.body.dump();
        if (probe.statusCode !== 404) return new DeviceError('NOT_SUPPORTED', `${where}: this model or firmware has no such endpoint (HTTP 404)`, { reached: true });
      } catch {
        // the probe failing says nothing about the endpoint: report the plain 404 below
        return new DeviceError('NOT_SUPPORTED', `${where}: HTTP 404`, { reached: true });
      }
    }
    return new DeviceError('API_DISABLED', `${where}: the phone's REST API is disabled (HTTP 404; set apps.restapi.enabled=1)`, { reached: true });
  }

  /** Shutdown, after the daemon's drain: whatever is still waiting on a phone is cut, not awaited. */
  close(): Promise<void> {
    return this.agent.destroy();
  }
}

/** A non-success API status the caller may want to interpret (4007 "no call" is not a failure for callState). */
export class PhoneStatusError extends DeviceError {
  readonly phoneStatus: string;
  constructor(status: string, message: string) {
    super('PHONE_ERROR', message, { reached: true });
    this.phoneStatus = status;
  }
}
