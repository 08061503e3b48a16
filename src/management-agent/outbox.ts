import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.js';
import type { Clock } from '../core/clock.js';
import { RelayError, errorCode, errorMessage } from '../errors.js';
import type { OutboxRepository } from '../store/outbox.js';
import type { OutboundBodies, OutboundType } from './frames.js';
import type { Outbox } from '../core/ports.js';

/** Sends one text frame on the live connection; false when it could not be handed to the socket. */
export type FrameSender = (text: string) => boolean;

/**
 * The durable relay → DMS queue (PROTOCOL §3). A frame is written to SQLite first and
 * deleted only when the DMS acks or nacks its id. Each connection starts from the oldest
 * unacked row, so resent frames always go before newer ones; a live connection never
 * resends, and at most `window` frames are in flight.
 */
export class DurableOutbox implements Outbox {
  private sender: FrameSender | undefined;
  /** Sent on the current connection and not answered yet: id → when sent (monotonic ms). */
  private readonly inFlight = new Map<string, number>();
  private cursor = 0;
  private pumpScheduled = false;
  private rows: number;
  /** Frames the DMS answered this turn, deleted together at its end (one commit, not one per answer). */
  private answeredRefs = new Set<string>();
  private deleteScheduled = false;

  constructor(
    private readonly repo: OutboxRepository,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly window: number,
    private readonly maxRows: number,
  ) {
    this.rows = repo.count();
  }

  enqueue<T extends OutboundType>(type: T, body: OutboundBodies[T]): string {
    if (this.rows >= this.maxRows) {
      throw new RelayError('OUTBOX_FULL', `the outbox holds ${this.rows} unsent frames (limit ${this.maxRows}): the DMS has not acknowledged anything for a long time`);
    }
    const id = randomUUID();
    const now = this.clock.now();
    const frame = JSON.stringify({ ...body, v: 1, id, type, ts: new Date(now).toISOString() });
    this.repo.insert(id, type, frame, now);
    this.rows++;
    this.schedulePump();
    return id;
  }

  depth(): number {
    return this.rows;
  }

  /** A connection is up: start again from the oldest unacked frame. */
  attach(sender: FrameSender): void {
    // Answered frames must be gone before the new connection starts again from the oldest row.
    this.deleteAnswered();
    this.sender = sender;
    this.inFlight.clear();
    this.cursor = 0;
    this.rows = this.repo.count();
    this.schedulePump();
  }

  detach(): void {
    this.sender = undefined;
    this.inFlight.clear();
  }

  /** The DMS answered frame `ref` (ack, or nack: it will not be resent either way). */
  answered(ref: string, kind: 'ack' | 'nack', reason?: string): void {
    this.answeredRefs.add(ref);
    if (!this.deleteScheduled) {
      this.deleteScheduled = true;
      setImmediate(() => {
        this.deleteScheduled = false;
        this.deleteAnswered();
      });
    }
    this.inFlight.delete(ref);
    if (kind === 'nack') this.log.warn({ code: 'FRAME_NACKED', ref, reason }, 'the DMS refused a frame from the outbox; it is dropped');
    this.schedulePump();
  }

  /** Deletes the frames answered so far. A crash before it means they are sent once more (the DMS dedups by id). */
  private deleteAnswered(): void {
    if (this.answeredRefs.size === 0) return;
    const refs = [...this.answeredRefs];
    try {
      const deleted = this.repo.transaction(() => refs.reduce((n, ref) => n + (this.repo.delete(ref) ? 1 : 0), 0));
      this.answeredRefs.clear();
      this.rows = Math.max(0, this.rows - deleted);
    } catch (err) {
      // Kept for the next answer's turn; until then they are only resent if the connection restarts.
      this.log.warn({ code: errorCode(err), frames: refs.length, err: errorMessage(err) }, 'answered outbox frames could not be deleted yet; tried again with the next answer');
    }
  }

  /** Age of the oldest frame sent on this connection and still unanswered. */
  oldestUnackedMs(): number {
    const now = performance.now();
    let oldest = 0;
    for (const sentAt of this.inFlight.values()) oldest = Math.max(oldest, now - sentAt);
    return oldest;
  }

  inFlightCount(): number {
    return this.inFlight.size;
  }

  private schedulePump(): void {
    if (this.pumpScheduled || !this.sender) return;
    this.pumpScheduled = true;
    // After the current tick, so a frame enqueued inside a transaction is sent only once committed.
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.sender && this.inFlight.size < this.window) {
      const rows = this.repo.after(this.cursor, this.window - this.inFlight.size);
      if (rows.length === 0) return;
      for (const row of rows) {
        if (!this.sender(row.frame)) return;
        this.inFlight.set(row.id, performance.now());
        this.cursor = row.seq;
      }
    }
  }
}
