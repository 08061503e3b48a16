import { createHash } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { request } from '../core/undici.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../log.js';
import { errorMessage } from '../errors.js';
import { timeouts } from '../core/timeouts.js';

/**
 * `size`: the Content-Length the provisioning server announced for the path, when it was just
 * asked. `notFound`: the credentials passed but the server has no such file.
 */
export type AccessVerdict = { ok: true; size?: number; notFound?: boolean } | { ok: false; status: number; headers: Record<string, string>; reason: string };

export interface AccessQuery {
  readonly provisioningUrl: string;
  readonly relayId: string;
  readonly path: string;
  readonly method: string;
  readonly clientIp: string;
  readonly authorization: string | undefined;
  readonly userAgent: string | undefined;
}

/** `{provisioningUrl}{path}`: the prefix is kept and the slash not doubled (PROTOCOL 6). */
export function provisioningTarget(provisioningUrl: string, path: string): string {
  return provisioningUrl.replace(/\/+$/, '') + '/' + path.replace(/^\/+/, '');
}

/**
 * Asks the DMS provisioning server whether a phone's credentials would get the file, so
 * the cache never serves a byte the DMS would refuse. A positive answer is remembered per
 * credential (a hash, never the credential) for `ttlMs`; concurrent checks of the same
 * credential and path share one request. Anything but a clear answer refuses (fail closed).
 */
export class AccessChecker {
  private readonly positive = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<AccessVerdict>>();

  constructor(private readonly opts: { dispatcher: Dispatcher; ttlMs: number; clock: Clock; log: Logger; timeoutMs?: number; maxEntries?: number }) {}

  check(q: AccessQuery): Promise<AccessVerdict> {
    const key = q.authorization !== undefined ? `a:${createHash('sha256').update(q.authorization).digest('base64')}` : `ip:${q.clientIp}`;
    const until = this.positive.get(key);
    if (until !== undefined) {
      if (until > this.opts.clock.now()) return Promise.resolve({ ok: true });
      this.positive.delete(key);
    }
    // Concurrent checks share one request per credential and path (a 404 belongs to its path).
    const flightKey = `${key}\0${q.path}`;
    const running = this.inflight.get(flightKey);
    if (running) return running;
    const p = this.ask(q).then((v) => {
      if (v.ok && this.opts.ttlMs > 0) this.remember(key);
      return v;
    });
    this.inflight.set(flightKey, p);
    void p.finally(() => this.inflight.delete(flightKey));
    return p;
  }

  private remember(key: string): void {
    const max = this.opts.maxEntries ?? 10_000;
    if (this.positive.size >= max) {
      const oldest = this.positive.keys().next();
      if (!oldest.done) this.positive.delete(oldest.value);
    }
    this.positive.set(key, this.opts.clock.now() + this.opts.ttlMs);
  }

  private async ask(q: AccessQuery): Promise<AccessVerdict> {
    const headers: Record<string, string> = { 'x-relay-id': q.relayId, 'x-forwarded-for': q.clientIp };
    if (q.authorization !== undefined) headers.authorization = q.authorization;
    if (q.userAgent !== undefined) headers['user-agent'] = q.userAgent;
    // HEAD: the answer without the body (a provisioning server may ignore Range).
    const method = 'HEAD';
    const timeout = this.opts.timeoutMs ?? timeouts.firmwareAccessCheck.ms;
    try {
      const res = await request(provisioningTarget(q.provisioningUrl, q.path), {
        dispatcher: this.opts.dispatcher,
        method,
        headers,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      const s = res.statusCode;
      if ((s >= 200 && s < 400) || s === 416) {
        const cl = Number(res.headers['content-length']);
        return s === 200 && Number.isSafeInteger(cl) && cl >= 0 ? { ok: true, size: cl } : { ok: true };
      }
      // A provisioning server must challenge (401) missing or wrong credentials, or phones could
      // never log in; a 404 therefore means the credentials passed and only the file is unknown
      // there (the DMS's images need not live on its provisioning server).
      if (s === 404) return { ok: true, notFound: true };
      if (s === 401 || s === 403 || s === 407) {
        const out: Record<string, string> = {};
        const wa = res.headers['www-authenticate'];
        if (wa !== undefined) out['WWW-Authenticate'] = Array.isArray(wa) ? wa.join(', ') : wa;
        return { ok: false, status: s, headers: out, reason: `provisioning server refused the credentials (${s})` };
      }
      return { ok: false, status: 502, headers: {}, reason: `provisioning server answered ${s} to the credential check` };
    } catch (err) {
      this.opts.log.warn({ code: 'ACCESS_CHECK_FAILED', path: q.path, err: errorMessage(err) }, 'credential check with the provisioning server failed');
      return { ok: false, status: 502, headers: {}, reason: 'provisioning server unreachable for the credential check' };
    }
  }
}
