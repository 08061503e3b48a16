import type { Db } from './db.js';

/** One source IP's guard state; times are epoch ms, null when not applicable. */
export interface IpGuardRow {
  ip: string;
  whitelistedAt: number | null;
  failures: number;
  windowStartedAt: number | null;
  lastFailureAt: number | null;
  lastFailure: string | null;
  bannedUntil: number | null;
  banCount: number;
  blacklistedAt: number | null;
}

const COLUMNS = `ip, whitelisted_at AS whitelistedAt, failures, window_started_at AS windowStartedAt,
  last_failure_at AS lastFailureAt, last_failure AS lastFailure, banned_until AS bannedUntil,
  ban_count AS banCount, blacklisted_at AS blacklistedAt`;

/** Persistence of the IP guard. The daemon and `cloud-relay ip` share it through WAL. */
export class IpGuardStore {
  private readonly getStmt;
  private readonly upsertStmt;
  private readonly listStmt;
  private readonly blockedStmt;
  private readonly recentBlockedStmt;
  private readonly whitelistedStmt;
  private readonly unbanStmt;
  private readonly pruneStmt;

  constructor(private readonly db: Db) {
    this.getStmt = db.prepare<[string], IpGuardRow>(`SELECT ${COLUMNS} FROM ip_guard WHERE ip = ?`);
    this.upsertStmt = db.prepare<IpGuardRow>(
      `INSERT INTO ip_guard (ip, whitelisted_at, failures, window_started_at, last_failure_at, last_failure, banned_until, ban_count, blacklisted_at)
       VALUES (@ip, @whitelistedAt, @failures, @windowStartedAt, @lastFailureAt, @lastFailure, @bannedUntil, @banCount, @blacklistedAt)
       ON CONFLICT(ip) DO UPDATE SET whitelisted_at = excluded.whitelisted_at, failures = excluded.failures,
         window_started_at = excluded.window_started_at, last_failure_at = excluded.last_failure_at, last_failure = excluded.last_failure,
         banned_until = excluded.banned_until, ban_count = excluded.ban_count, blacklisted_at = excluded.blacklisted_at`,
    );
    this.listStmt = db.prepare<[], IpGuardRow>(`SELECT ${COLUMNS} FROM ip_guard ORDER BY ip`);
    this.blockedStmt = db.prepare<[number], IpGuardRow>(`SELECT ${COLUMNS} FROM ip_guard WHERE blacklisted_at IS NOT NULL OR banned_until > ?`);
    this.recentBlockedStmt = db.prepare<[number, number], IpGuardRow>(
      `SELECT ${COLUMNS} FROM ip_guard WHERE blacklisted_at IS NOT NULL OR banned_until > ? ORDER BY COALESCE(last_failure_at, blacklisted_at, 0) DESC, ip LIMIT ?`,
    );
    this.whitelistedStmt = db.prepare<[], { ip: string }>('SELECT ip FROM ip_guard WHERE whitelisted_at IS NOT NULL');
    this.unbanStmt = db.prepare<[string]>('UPDATE ip_guard SET banned_until = NULL, blacklisted_at = NULL, ban_count = 0, failures = 0, window_started_at = NULL WHERE ip = ?');
    this.pruneStmt = db.prepare<[number, number]>(
      'DELETE FROM ip_guard WHERE whitelisted_at IS NULL AND blacklisted_at IS NULL AND (banned_until IS NULL OR banned_until < ?) AND (last_failure_at IS NULL OR last_failure_at < ?)',
    );
  }

  get(ip: string): IpGuardRow | undefined {
    return this.getStmt.get(ip);
  }

  /** Read-modify-write of one IP in a single transaction (safe against `cloud-relay ip` at the same time). */
  update(ip: string, change: (row: IpGuardRow) => IpGuardRow): IpGuardRow {
    return this.db
      .transaction(() => {
        const row = this.getStmt.get(ip) ?? emptyRow(ip);
        const next = change(row);
        this.upsertStmt.run(next);
        return next;
      })
      .immediate();
  }

  list(): IpGuardRow[] {
    return this.listStmt.all();
  }

  blocked(now: number): IpGuardRow[] {
    return this.blockedStmt.all(now);
  }

  /** The most recently failing of the blocked IPs, at most `limit`. */
  recentlyBlocked(now: number, limit: number): IpGuardRow[] {
    return this.recentBlockedStmt.all(now, limit);
  }

  whitelisted(): string[] {
    return this.whitelistedStmt.all().map((r) => r.ip);
  }

  /** Lifts a ban or blacklisting and forgets the failures. False when the IP is unknown. */
  unban(ip: string): boolean {
    return this.unbanStmt.run(ip).changes > 0;
  }

  /** Forgets IPs that are neither trusted nor blocked and have been quiet since `quietSince`. */
  prune(now: number, quietSince: number): number {
    return this.pruneStmt.run(now, quietSince).changes;
  }
}

export function emptyRow(ip: string): IpGuardRow {
  return { ip, whitelistedAt: null, failures: 0, windowStartedAt: null, lastFailureAt: null, lastFailure: null, bannedUntil: null, banCount: 0, blacklistedAt: null };
}
