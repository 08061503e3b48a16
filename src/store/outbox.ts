import type { Db } from './db.js';

export interface OutboxRow {
  readonly seq: number;
  readonly id: string;
  readonly type: string;
  /** The complete frame as sent on the wire (envelope included, `ts` = when it was stored). */
  readonly frame: string;
}

/** SQL of the durable relay → DMS outbox. Rows leave only when the DMS acks or nacks them. */
export class OutboxRepository {
  private readonly insertStmt;
  private readonly afterStmt;
  private readonly deleteStmt;
  private readonly countStmt;

  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare('INSERT INTO outbox (id, type, frame, created_at) VALUES (?, ?, ?, ?)');
    this.afterStmt = db.prepare<[number, number], OutboxRow>('SELECT seq, id, type, frame FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?');
    this.deleteStmt = db.prepare('DELETE FROM outbox WHERE id = ?');
    this.countStmt = db.prepare<[], number>('SELECT count(*) FROM outbox').pluck();
  }

  insert(id: string, type: string, frame: string, createdAt: number): number {
    return Number(this.insertStmt.run(id, type, frame, createdAt).lastInsertRowid);
  }

  /** Oldest rows after `seq`, in creation order. */
  after(seq: number, limit: number): OutboxRow[] {
    return this.afterStmt.all(seq, limit);
  }

  delete(id: string): boolean {
    return this.deleteStmt.run(id).changes > 0;
  }

  count(): number {
    return this.countStmt.get() ?? 0;
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}
