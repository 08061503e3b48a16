import type { Db } from './db.js';

export type InboundState = 'pending' | 'done' | 'refused';

export interface InboundRow {
  readonly id: string;
  readonly type: string;
  readonly frame: string;
  readonly state: InboundState;
  readonly reason: string | null;
}

/**
 * SQL of the DMS → relay frame record: what was stored (and so acked), what its handler
 * made of it, and which ids were seen, so a resent frame is acked again and not run twice.
 */
export class InboundRepository {
  private readonly getStmt;
  private readonly insertStmt;
  private readonly setStateStmt;
  private readonly pendingStmt;
  private readonly pruneStmt;

  constructor(private readonly db: Db) {
    this.getStmt = db.prepare<[string], InboundRow>('SELECT id, type, frame, state, reason FROM inbound_frames WHERE id = ?');
    this.insertStmt = db.prepare('INSERT INTO inbound_frames (id, type, frame, state, reason, received_at) VALUES (?, ?, ?, ?, ?, ?)');
    this.setStateStmt = db.prepare('UPDATE inbound_frames SET state = ?, reason = ? WHERE id = ?');
    this.pendingStmt = db.prepare<[], InboundRow>("SELECT id, type, frame, state, reason FROM inbound_frames WHERE state = 'pending' ORDER BY received_at, rowid");
    this.pruneStmt = db.prepare("DELETE FROM inbound_frames WHERE received_at < ? AND state != 'pending'");
  }

  get(id: string): InboundRow | undefined {
    return this.getStmt.get(id);
  }

  insert(id: string, type: string, frame: string, state: InboundState, reason: string | null, receivedAt: number): void {
    this.insertStmt.run(id, type, frame, state, reason, receivedAt);
  }

  setState(id: string, state: InboundState, reason: string | null): void {
    this.setStateStmt.run(state, reason, id);
  }

  pending(): InboundRow[] {
    return this.pendingStmt.all();
  }

  /** Forgets finished frames older than `before` (the DMS stops resending long before). */
  prune(before: number): number {
    return this.pruneStmt.run(before).changes;
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}
