import type { Logger } from '../log.js';
import type { Clock } from '../core/clock.js';
import type { IpGuardRow, IpGuardStore } from '../store/ip-guard.js';
import type { BlockedAddress, IpGuardStatus } from '../core/status.js';
import { relayMetrics } from '../metrics/relay-metrics.js';

export interface IpGuardPolicy {
  readonly maxFailures: number;
  readonly windowSeconds: number;
  readonly banSeconds: number;
  readonly blacklistAfterBans: number;
}

export type IpState = 'whitelisted' | 'blacklisted' | 'banned' | 'watched' | 'unknown';

export type GuardVerdict = { readonly allowed: true } | { readonly allowed: false; readonly state: 'banned' | 'blacklisted'; readonly until: number | null };

const ALLOWED: GuardVerdict = { allowed: true };

/** The state an admin sees for a row (`cloud-relay ip check`). */
export function stateOf(row: IpGuardRow | undefined, now: number): IpState {
  if (!row) return 'unknown';
  if (row.blacklistedAt !== null) return 'blacklisted';
  if (row.bannedUntil !== null && row.bannedUntil > now) return 'banned';
  if (row.whitelistedAt !== null) return 'whitelisted';
  return row.failures > 0 || row.banCount > 0 ? 'watched' : 'unknown';
}

/** Pure policy: the row after one more failure at `now`. */
export function afterFailure(row: IpGuardRow, policy: IpGuardPolicy, now: number, reason: string): IpGuardRow {
  const inWindow = row.windowStartedAt !== null && now - row.windowStartedAt <= policy.windowSeconds * 1000;
  const next: IpGuardRow = { ...row, failures: inWindow ? row.failures + 1 : 1, windowStartedAt: inWindow ? row.windowStartedAt : now, lastFailureAt: now, lastFailure: reason };
  if (next.failures < policy.maxFailures) return next;
  next.banCount = row.banCount + 1;
  next.failures = 0;
  next.windowStartedAt = null;
  if (next.banCount >= policy.blacklistAfterBans) {
    next.blacklistedAt = now;
    next.bannedUntil = null;
  } else {
    next.bannedUntil = now + policy.banSeconds * 1000 * 2 ** (next.banCount - 1);
  }
  return next;
}

/**
 * Per-IP protection of the phone-facing port. The hot path (`check`) is a Map lookup:
 * only IPs this process has seen blocked are looked up in the database again, which is also
 * how `cloud-relay ip unban` (writing the same database) takes effect on a running relay.
 */
export class IpGuard {
  private readonly whitelist = new Set<string>();
  private readonly blocked = new Set<string>();
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: IpGuardStore,
    private readonly policy: IpGuardPolicy,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  load(): void {
    const now = this.clock.now();
    for (const ip of this.store.whitelisted()) this.whitelist.add(ip);
    for (const row of this.store.blocked(now)) this.blocked.add(row.ip);
    this.pruneTimer = setInterval(() => this.prune(), 3600_000);
    this.pruneTimer.unref();
  }

  stop(): void {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
  }

  check(ip: string): GuardVerdict {
    if (!this.blocked.has(ip)) return ALLOWED;
    const now = this.clock.now();
    const row = this.store.get(ip);
    const state = stateOf(row, now);
    if (state === 'blacklisted' || state === 'banned') return { allowed: false, state, until: row!.bannedUntil };
    this.blocked.delete(ip);
    return ALLOWED;
  }

  /** An authenticated request succeeded: this IP is a real phone from now on. */
  recordSuccess(ip: string): void {
    if (this.whitelist.has(ip)) return;
    const now = this.clock.now();
    this.store.update(ip, (row) => ({ ...row, whitelistedAt: row.whitelistedAt ?? now, failures: 0, windowStartedAt: null }));
    this.whitelist.add(ip);
    this.log.info({ ip }, 'ip guard: IP whitelisted after its first authenticated success');
  }

  recordFailure(ip: string, reason: string): void {
    if (this.whitelist.has(ip)) return;
    const now = this.clock.now();
    const row = this.store.update(ip, (r) => (r.whitelistedAt !== null ? r : afterFailure(r, this.policy, now, reason)));
    if (row.whitelistedAt !== null) {
      this.whitelist.add(ip);
      return;
    }
    if (row.blacklistedAt === now) {
      this.blocked.add(ip);
      relayMetrics.ipGuardBan('blacklist');
      this.log.warn(
        { ip, bans: row.banCount, reason, code: 'IP_BLACKLISTED' },
        `ip guard: ${ip} BLACKLISTED after ${row.banCount} bans (lift with \`cloud-relay ip unban ${ip}\`)`,
      );
    } else if (row.bannedUntil !== null && row.lastFailureAt === now && row.failures === 0) {
      this.blocked.add(ip);
      relayMetrics.ipGuardBan('ban');
      this.log.warn(
        { ip, bans: row.banCount, until: new Date(row.bannedUntil).toISOString(), reason, code: 'IP_BANNED' },
        `ip guard: ${ip} banned until ${new Date(row.bannedUntil).toISOString()} after ${this.policy.maxFailures} failures`,
      );
    }
  }

  counts(): { whitelisted: number; blocked: number } {
    return { whitelisted: this.whitelist.size, blocked: this.blocked.size };
  }

  /** Counts plus the `limit` most recently failing blocked addresses, for the status page. */
  status(limit: number): IpGuardStatus {
    const now = this.clock.now();
    const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
    const addresses = this.store.recentlyBlocked(now, limit).map((r): BlockedAddress => {
      const blacklisted = stateOf(r, now) === 'blacklisted';
      return {
        ip: r.ip,
        state: blacklisted ? 'blacklisted' : 'banned',
        until: blacklisted ? null : iso(r.bannedUntil),
        bans: r.banCount,
        lastFailure: r.lastFailure,
        lastFailureAt: iso(r.lastFailureAt),
      };
    });
    return { ...this.counts(), addresses };
  }

  private prune(): void {
    const now = this.clock.now();
    this.store.prune(now, now - 7 * 86_400_000);
  }
}
