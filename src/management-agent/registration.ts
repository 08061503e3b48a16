import { hostname } from 'node:os';
import { z } from 'zod';
import type { Logger } from '../log.js';
import type { Clock } from '../core/clock.js';
import { ClockSkewError, RelayError, errorCode, errorMessage } from '../errors.js';
import { VERSION } from '../version.js';
import type { RegistrationRepository, StoredRegistration } from '../store/registration.js';
import type { Registration, RegistrationSource } from '../core/ports.js';
import type { DmsClient } from '../dms/client.js';
import type { AgentTuning } from './tuning.js';
import { Backoff } from '../core/backoff.js';

const registerResponseSchema = z.object({
  relayId: z.string().min(1).max(128),
  token: z.string().min(1).max(4096),
  tokenExpiresAt: z.iso.datetime({ offset: true }),
  heartbeatIntervalSeconds: z.number().int().min(1).max(86_400),
  controlUrl: z.url({ protocol: /^wss$/, error: 'must be a wss:// URL' }),
  provisioningUrl: z.url({ protocol: /^https$/, error: 'must be an https:// URL' }),
  site: z.object({ id: z.string(), name: z.string(), subnets: z.array(z.string()), siteSpecific: z.boolean() }),
});

export interface Credentials {
  readonly tenantId: string;
  readonly pin: string;
}

/** Why one registration attempt failed, and how long to wait before the next. */
export type AttemptOutcome =
  | { ok: true; registration: Registration }
  | {
      ok: false;
      kind: 'invalid_credentials' | 'license_expired' | 'rate_limited' | 'server_error' | 'unreachable' | 'clock_skew' | 'bad_response';
      error: RelayError;
      retryAfterMs?: number;
    };

export interface RegistrationDeps {
  readonly dmsUrl: string;
  readonly fqdn: string;
  readonly credentials: () => Credentials;
  readonly http: DmsClient;
  readonly repo: RegistrationRepository;
  readonly log: Logger;
  readonly clock: Clock;
  readonly tuning: AgentTuning;
}

/**
 * Keeps the relay registered (PROTOCOL §1): the relayId for ever, the token until it
 * expires or is rejected, retries paced by why the last attempt failed.
 */
export class RegistrationClient implements RegistrationSource {
  private reg: Registration | undefined;
  private readonly listeners: ((reg: Registration) => void)[] = [];
  private loop: Promise<void> | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly authBackoff: Backoff;
  private readonly transientBackoff: Backoff;
  private rejectedStreak = false;
  /** Last failure, for the status document and readiness detail. */
  lastError: { code: string; message: string; at: string } | undefined;

  constructor(private readonly deps: RegistrationDeps) {
    this.authBackoff = new Backoff(deps.tuning.authRetryBaseMs, deps.tuning.authRetryCapMs, 'equal');
    this.transientBackoff = new Backoff(deps.tuning.transientRetryBaseMs, deps.tuning.transientRetryCapMs, 'full');
  }

  current(): Registration | undefined {
    const reg = this.reg;
    if (!reg) return undefined;
    if (performance.now() >= this.validUntilMono) return undefined;
    return reg;
  }

  /**
   * When the token expires, on the monotonic clock: its lifetime is measured against the DMS's
   * own time when it said (the Date of the registration answer), so a step of this machine's
   * clock neither expires a good token early (re-registering in a loop) nor keeps a dead one.
   */
  private validUntilMono = Number.NaN;

  onChange(listener: (reg: Registration) => void): void {
    this.listeners.push(listener);
  }

  relayId(): string | undefined {
    return this.reg?.relayId ?? this.deps.repo.relayId();
  }

  /** Uses a stored, unexpired token from the same DMS; otherwise registers in the background. */
  start(): void {
    this.stopped = false;
    const stored = this.deps.repo.load();
    const now = this.deps.clock.now();
    if (stored && stored.dmsUrl === this.deps.dmsUrl && Date.parse(stored.tokenExpiresAt) - this.deps.tuning.tokenRefreshMarginMs > now) {
      this.deps.log.info({ relayId: stored.relayId, tokenExpiresAt: stored.tokenExpiresAt }, 'reusing the stored registration');
      this.adopt(toRegistration(stored));
      return;
    }
    this.ensure();
  }

  /** Starts the register-until-success loop unless it is running. */
  ensure(): void {
    if (this.loop || this.stopped) return;
    this.loop = this.runLoop().finally(() => {
      this.loop = undefined;
    });
  }

  /** The token was rejected (401 or close 4003) or the DMS asked to re-register: register again now. */
  invalidate(reason: string): void {
    if (this.stopped) return;
    this.deps.log.warn({ code: 'REGISTRATION_INVALIDATED', reason }, 'registration no longer valid: registering again');
    this.reg = undefined;
    this.deps.repo.forgetToken();
    this.ensure();
  }

  /** Registers now even though the token is still good (DMS action "reregister"). */
  reregister(reason: string): void {
    if (this.stopped) return;
    this.deps.log.info({ reason }, 'registering again');
    this.ensure();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.wake?.();
  }

  private async runLoop(): Promise<void> {
    while (!this.stopped) {
      const outcome = await this.attempt();
      if (this.stopped) return;
      if (outcome.ok) {
        this.authBackoff.reset();
        this.transientBackoff.reset();
        return;
      }
      const delay = this.retryDelay(outcome);
      this.report(outcome, delay);
      await this.sleep(delay);
    }
  }

  private retryDelay(o: Extract<AttemptOutcome, { ok: false }>): number {
    const t = this.deps.tuning;
    switch (o.kind) {
      case 'invalid_credentials':
        return this.authBackoff.next();
      case 'license_expired':
        return t.licenseRetryMs;
      case 'rate_limited':
        return Math.min(t.retryAfterCapMs, o.retryAfterMs ?? this.transientBackoff.next());
      default:
        return this.transientBackoff.next();
    }
  }

  private report(o: Extract<AttemptOutcome, { ok: false }>, delayMs: number): void {
    const at = new Date(this.deps.clock.now()).toISOString();
    this.lastError = { code: o.error.code, message: o.error.message, at };
    const retryInSeconds = Math.round(delayMs / 1000);
    if (o.kind === 'invalid_credentials') {
      // One clear line per streak; the repeats go to debug so the log is not flooded.
      if (!this.rejectedStreak) this.deps.log.error({ code: o.error.code, tenantId: this.deps.credentials().tenantId, retryInSeconds }, 'tenant ID or PIN rejected by the DMS');
      else this.deps.log.debug({ code: o.error.code, retryInSeconds }, 'tenant ID or PIN still rejected');
      this.rejectedStreak = true;
      return;
    }
    this.rejectedStreak = false;
    const level = o.kind === 'clock_skew' ? 'error' : 'warn';
    this.deps.log[level]({ code: o.error.code, retryInSeconds }, `registration failed: ${o.error.message}`);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    });
  }

  /** One registration call; on success the registration is stored and announced. */
  async attempt(): Promise<AttemptOutcome> {
    const creds = this.deps.credentials();
    const body = { tenantId: creds.tenantId, pin: creds.pin, relayId: this.relayId() ?? null, hostname: hostname(), fqdn: this.deps.fqdn, version: VERSION };
    let res;
    try {
      res = await this.deps.http.postJson('api/v1/relays/register', body);
    } catch (err) {
      const e = err instanceof RelayError ? err : new RelayError('DMS_UNREACHABLE', errorMessage(err));
      return { ok: false, kind: e instanceof ClockSkewError ? 'clock_skew' : 'unreachable', error: e };
    }
    const errName = typeof res.body === 'object' && res.body !== null && 'error' in res.body ? String(res.body.error) : '';
    if (res.status === 401) return { ok: false, kind: 'invalid_credentials', error: new RelayError('REGISTRATION_REJECTED', 'tenant ID or PIN rejected by the DMS') };
    if (res.status === 403 && errName === 'license_expired')
      return { ok: false, kind: 'license_expired', error: new RelayError('LICENSE_EXPIRED', "the DMS says the tenant's license has expired; retrying hourly") };
    if (res.status === 429) {
      const retryAfterMs = parseRetryAfter(res.headers['retry-after'], this.deps.clock.now());
      return {
        ok: false,
        kind: 'rate_limited',
        error: new RelayError('DMS_RATE_LIMITED', `the DMS asked to retry later (429${retryAfterMs !== undefined ? `, Retry-After ${Math.round(retryAfterMs / 1000)} s` : ''})`),
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    }
    if (res.status !== 200)
      return { ok: false, kind: 'server_error', error: new RelayError('DMS_ERROR', `the DMS answered registration with HTTP ${res.status}${errName ? ` (${errName})` : ''}`) };
    const parsed = registerResponseSchema.safeParse(res.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return {
        ok: false,
        kind: 'bad_response',
        error: new RelayError('DMS_BAD_RESPONSE', `the DMS registration answer is invalid: field ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? '?'}`),
      };
    }
    const previousId = this.relayId();
    const reg: StoredRegistration = { ...parsed.data, dmsUrl: this.deps.dmsUrl };
    this.deps.repo.save(reg);
    this.rejectedStreak = false;
    this.lastError = undefined;
    if (previousId && previousId !== reg.relayId)
      this.deps.log.warn({ code: 'RELAY_ID_CHANGED', previousRelayId: previousId, relayId: reg.relayId }, 'the DMS did not know our relay id and assigned a new one');
    this.deps.log.info(
      { relayId: reg.relayId, tenantId: creds.tenantId, heartbeatIntervalSeconds: reg.heartbeatIntervalSeconds, tokenExpiresAt: reg.tokenExpiresAt },
      'registered with the DMS',
    );
    const registration = toRegistration(reg);
    const date = res.headers.date;
    this.adopt(registration, typeof date === 'string' ? Date.parse(date) : undefined);
    return { ok: true, registration };
  }

  private adopt(reg: Registration, dmsNow?: number): void {
    this.reg = reg;
    const issuedAt = dmsNow !== undefined && Number.isFinite(dmsNow) ? dmsNow : this.deps.clock.now();
    const lifetimeMs = Date.parse(reg.tokenExpiresAt) - issuedAt;
    this.validUntilMono = performance.now() + (Number.isFinite(lifetimeMs) ? lifetimeMs : 0);
    this.scheduleRefresh(lifetimeMs);
    for (const l of this.listeners) {
      try {
        l(reg);
      } catch (err) {
        this.deps.log.error({ err: errorMessage(err), code: errorCode(err) }, 'registration listener failed');
      }
    }
  }

  private scheduleRefresh(lifetimeMs: number): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    const due = lifetimeMs - this.deps.tuning.tokenRefreshMarginMs;
    // setTimeout's limit is ~24.8 days; a longer token is refreshed on the next check.
    this.refreshTimer = setTimeout(() => this.reregister('token expires soon'), Math.max(1_000, Math.min(due, 2 ** 31 - 1)));
    this.refreshTimer.unref();
  }
}

function toRegistration(s: StoredRegistration): Registration {
  return {
    relayId: s.relayId,
    token: s.token,
    tokenExpiresAt: s.tokenExpiresAt,
    heartbeatIntervalSeconds: s.heartbeatIntervalSeconds,
    controlUrl: s.controlUrl,
    provisioningUrl: s.provisioningUrl,
    site: s.site,
  };
}

export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
