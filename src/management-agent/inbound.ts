import type { Logger } from '../log.js';
import type { Clock } from '../core/clock.js';
import { RelayError, errorMessage, type Catalogued } from '../errors.js';
import type { InboundRepository } from '../store/inbound.js';
import type { StoreSpace } from '../store/space.js';
import { MAX_FRAME_BYTES, inboundFrameSchema, type InboundFrame } from './frames.js';
import { FrameRefused } from '../core/ports.js';
import type { InboundHandlers } from './ports.js';

/** What the relay answers a DMS frame with (nothing for the DMS's own ack/nack). */
export type Reply = { type: 'ack'; ref: string } | { type: 'nack'; ref: string | null; reason: string };

/** A frame that failed validation; its code names the kind of fault (operators grep for them). */
export class InvalidFrameError extends RelayError {
  constructor(
    code: Catalogued<
      'FRAME_BINARY' | 'FRAME_TOO_LARGE' | 'FRAME_BAD_JSON' | 'FRAME_NOT_OBJECT' | 'FRAME_BAD_ID' | 'FRAME_BAD_VERSION' | 'FRAME_UNKNOWN_TYPE' | 'FRAME_INVALID_FIELD'
    >,
    message: string,
    readonly ref: string | null,
  ) {
    super(code, message);
  }
}

/** Derived from the schema, so a frame type added there is known here too. */
const KNOWN_TYPES: ReadonlySet<string> = new Set(inboundFrameSchema.options.map((o) => o.shape.type.value));

type HandledType = keyof InboundHandlers;

export interface InboundDeps {
  readonly repo: InboundRepository;
  readonly handlers: InboundHandlers;
  /** The DMS answered one of our outbox frames. */
  readonly onAnswer: (ref: string, kind: 'ack' | 'nack', reason?: string) => void;
  readonly log: Logger;
  readonly clock: Clock;
  /** Told about every store failure, so a full disk is refused with a nack and logged once. */
  readonly space?: StoreSpace | undefined;
}

/**
 * DMS → relay frames: validated where they enter, stored (with their handler's effects, in
 * one transaction) before the ack, never run twice. Anything wrong is logged with a
 * specific code and answered with a nack that names the problem; nothing here throws.
 */
export class InboundDispatcher {
  constructor(private readonly deps: InboundDeps) {}

  /** Parses one WebSocket message and returns the reply to send, if any. */
  receive(data: Buffer | string, isBinary: boolean): Reply | undefined {
    let frame: InboundFrame;
    try {
      frame = parseFrame(data, isBinary);
    } catch (err) {
      const e = err instanceof InvalidFrameError ? err : new InvalidFrameError('FRAME_BAD_JSON', errorMessage(err), null);
      this.deps.log.warn({ code: e.code, ref: e.ref }, `invalid frame from the DMS: ${e.message}`);
      return { type: 'nack', ref: e.ref, reason: e.message };
    }
    if (frame.type === 'ack' || frame.type === 'nack') {
      this.deps.onAnswer(frame.ref, frame.type, frame.type === 'nack' ? frame.reason : undefined);
      return undefined;
    }
    return this.store(frame, JSON.stringify(frame));
  }

  private store(frame: Exclude<InboundFrame, { type: 'ack' | 'nack' }>, text: string): Reply | undefined {
    const { repo, log } = this.deps;
    try {
      const seen = repo.get(frame.id);
      if (seen) {
        log.info({ code: 'FRAME_DUPLICATE', ref: frame.id, type: frame.type, state: seen.state }, 'frame seen before: answered again, not run again');
        return seen.state === 'refused' ? { type: 'nack', ref: frame.id, reason: seen.reason ?? 'refused' } : { type: 'ack', ref: frame.id };
      }
      const handler = this.deps.handlers[frame.type as HandledType] as ((f: InboundFrame) => void) | undefined;
      if (!handler) {
        const reason = `${frame.type} frames are not supported by this relay build`;
        repo.insert(frame.id, frame.type, text, 'refused', reason, this.deps.clock.now());
        log.warn({ code: 'FRAME_UNSUPPORTED', ref: frame.id, type: frame.type }, reason);
        return { type: 'nack', ref: frame.id, reason };
      }
      const outcome = repo.transaction(() => {
        repo.insert(frame.id, frame.type, text, 'pending', null, this.deps.clock.now());
        return this.run(frame, handler);
      });
      if (outcome.state === 'refused') {
        log.warn({ code: 'FRAME_REFUSED', ref: frame.id, type: frame.type, reason: outcome.reason }, 'frame refused by its handler');
        return { type: 'nack', ref: frame.id, reason: outcome.reason };
      }
      this.deps.space?.noteWritten();
      log.info({ ref: frame.id, type: frame.type, ...('taskId' in frame ? { taskId: frame.taskId } : {}) }, 'frame stored');
      return { type: 'ack', ref: frame.id };
    } catch (err) {
      // No room to store it: say so (an ack would promise what the relay cannot keep). The
      // full disk is logged once by StoreSpace, not once per frame.
      if (this.deps.space?.noteFailure(err, `${frame.type} frame`, 'frame')) {
        return { type: 'nack', ref: frame.id, reason: `STORE_FULL: the relay's data disk is full; nothing of this frame was stored or run. Send it again once the relay is ready` };
      }
      // The store itself failed: nothing was kept. No answer, so the DMS resends it after a reconnect.
      log.error({ code: 'FRAME_STORE_FAILED', ref: frame.id, type: frame.type, err: errorMessage(err) }, 'could not store a frame from the DMS; not acked, the DMS will resend it');
      return undefined;
    }
  }

  /**
   * Runs a handler inside the current transaction, in a savepoint so a refusal or a bug
   * undoes the handler's own writes but keeps the frame's record.
   */
  private run(frame: InboundFrame, handler: (f: InboundFrame) => void): { state: 'done' } | { state: 'refused'; reason: string } | { state: 'pending' } {
    const { repo, log } = this.deps;
    try {
      repo.transaction(() => handler(frame));
      repo.setState(frame.id, 'done', null);
      return { state: 'done' };
    } catch (err) {
      if (err instanceof FrameRefused) {
        repo.setState(frame.id, 'refused', err.reason);
        return { state: 'refused', reason: err.reason };
      }
      // Stored but not processed: acked (we have it) and run again at the next start.
      log.error(
        { code: 'FRAME_HANDLER_FAILED', ref: frame.id, type: frame.type, err: errorMessage(err) },
        'frame handler failed; the frame stays stored and is retried at the next start',
      );
      return { state: 'pending' };
    }
  }

  /** Runs stored frames whose handler did not finish (a failure, or a handler added since). */
  redispatchPending(): number {
    const { repo, log } = this.deps;
    let n = 0;
    for (const row of repo.pending()) {
      let frame: InboundFrame;
      try {
        frame = inboundFrameSchema.parse(JSON.parse(row.frame));
      } catch (err) {
        repo.setState(row.id, 'refused', `stored frame no longer valid: ${errorMessage(err)}`);
        continue;
      }
      const handler = this.deps.handlers[frame.type as HandledType] as ((f: InboundFrame) => void) | undefined;
      if (!handler) continue;
      repo.transaction(() => this.run(frame, handler));
      n++;
    }
    if (n > 0) log.info({ frames: n }, 'stored frames re-dispatched at start-up');
    return n;
  }
}

/** Validates one message against the v1 contract; throws InvalidFrameError naming the fault. */
export function parseFrame(data: Buffer | string, isBinary: boolean): InboundFrame {
  if (isBinary) throw new InvalidFrameError('FRAME_BINARY', 'binary frames are not accepted (frames are JSON text)', null);
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  if (size > MAX_FRAME_BYTES) throw new InvalidFrameError('FRAME_TOO_LARGE', `frame of ${size} bytes is over the 1 MiB limit`, null);
  let raw: unknown;
  try {
    raw = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch (err) {
    throw new InvalidFrameError('FRAME_BAD_JSON', `frame is not valid JSON: ${errorMessage(err)}`, null);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidFrameError('FRAME_NOT_OBJECT', 'frame is not a JSON object', null);
  const obj = raw as Record<string, unknown>;
  const ref = typeof obj.id === 'string' && obj.id !== '' && obj.id.length <= 128 ? obj.id : null;
  if (ref === null) throw new InvalidFrameError('FRAME_BAD_ID', 'field id: missing or not a string of 1-128 characters', null);
  if (obj.v !== 1) throw new InvalidFrameError('FRAME_BAD_VERSION', `field v: unsupported protocol version ${JSON.stringify(obj.v) ?? 'undefined'} (this relay speaks v=1)`, ref);
  if (typeof obj.type !== 'string') throw new InvalidFrameError('FRAME_INVALID_FIELD', 'field type: missing or not a string', ref);
  if (!KNOWN_TYPES.has(obj.type)) throw new InvalidFrameError('FRAME_UNKNOWN_TYPE', `field type: unknown frame type "${obj.type.slice(0, 64)}"`, ref);
  const parsed = inboundFrameSchema.safeParse(obj);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 5).map((i) => `field ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new InvalidFrameError('FRAME_INVALID_FIELD', `${obj.type} frame ${ref}: ${problems.join('; ')}`, ref);
  }
  return parsed.data;
}
