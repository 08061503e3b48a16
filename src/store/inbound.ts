import type { Db } from './db.js';
import { errorCode, errorMessage } from '../errors.js';
import { redactFrame, secretsOf } from './secrets.js';

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
    this.insertStmt = db.prepare('INSERT INTO inbound_frames (id, type, frame, state, reason, received_at, sealed) VALUES (?, ?, ?, ?, ?, ?, ?)');
    // The sealed copy exists only for re-dispatch: a finished frame keeps only its redacted record.
    this.setStateStmt = db.prepare("UPDATE inbound_frames SET state = ?, reason = ?, sealed = CASE WHEN ? = 'pending' THEN sealed ELSE NULL END WHERE id = ?");
    this.pendingStmt = db.prepare<[], InboundRow & { sealed: string | null }>(
      "SELECT id, type, frame, state, reason, sealed FROM inbound_frames WHERE state = 'pending' ORDER BY received_at, rowid",
    );
    this.pruneStmt = db.prepare("DELETE FROM inbound_frames WHERE received_at < ? AND state != 'pending'");
  }

  get(id: string): InboundRow | undefined {
    return this.getStmt.get(id);
  }

  /** `frame` is the whole frame text: kept redacted, and sealed as well while it is pending. */
  insert(id: string, type: string, frame: string, state: InboundState, reason: string | null, receivedAt: number): void {
    let record = frame;
    try {
      record = JSON.stringify(redactFrame(JSON.parse(frame)));
    } catch {
      // Not JSON: nothing structured to redact (only valid frames reach the store).
    }
    const sealed = state === 'pending' && record !== frame ? secretsOf(this.db).seal(frame) : null;
    this.insertStmt.run(id, type, record, state, reason, receivedAt, sealed);
  }

  setState(id: string, state: InboundState, reason: string | null): void {
    this.setStateStmt.run(state, reason, state, id);
  }

  /** Pending frames, whole again; one whose sealed copy cannot be opened is refused with the reason. */
  pending(): InboundRow[] {
    const out: InboundRow[] = [];
    for (const { sealed, ...row } of this.pendingStmt.all()) {
      if (sealed === null) {
        out.push(row);
        continue;
      }
      try {
        out.push({ ...row, frame: secretsOf(this.db).open(sealed) });
      } catch (err) {
        this.setState(row.id, 'refused', `${errorCode(err) ?? 'SECRETS_UNREADABLE'}: ${errorMessage(err)}`);
      }
    }
    return out;
  }

  /** Forgets finished frames older than `before` (the DMS stops resending long before). */
  prune(before: number): number {
    return this.pruneStmt.run(before).changes;
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}
