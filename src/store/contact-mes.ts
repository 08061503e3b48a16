import type { Db } from './db-handle.js';

/**
 * When each OpenStage phone was last sent a contact-me (the devices' ContactMeLedger), kept
 * across restarts so a relay that crashes and comes back within the minute does not ask the
 * same phone again. One row per phone address; rows older than the interval are pruned.
 */
export class ContactMeRepo {
  private readonly getStmt;
  private readonly setStmt;
  private readonly delStmt;
  private readonly pruneStmt;

  constructor(db: Db) {
    this.getStmt = db.prepare<[string], { sentAt: number }>('SELECT sent_at AS sentAt FROM contact_mes WHERE ip = ?');
    this.setStmt = db.prepare('INSERT INTO contact_mes (ip, sent_at) VALUES (?, ?) ON CONFLICT(ip) DO UPDATE SET sent_at = excluded.sent_at');
    this.delStmt = db.prepare('DELETE FROM contact_mes WHERE ip = ? AND sent_at = ?');
    this.pruneStmt = db.prepare('DELETE FROM contact_mes WHERE sent_at < ?');
  }

  last(ip: string): number | undefined {
    return this.getStmt.get(ip)?.sentAt;
  }

  record(ip: string, at: number): void {
    this.setStmt.run(ip, at);
  }

  /** Takes back the contact-me recorded at `at` (it never reached the phone); a later one stays. */
  forget(ip: string, at: number): void {
    this.delStmt.run(ip, at);
  }

  /** Drops the rows no longer limiting anything; returns how many. */
  prune(before: number): number {
    return this.pruneStmt.run(before).changes;
  }
}
