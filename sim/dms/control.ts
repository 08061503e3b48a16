import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { RelayBook, SimRelay } from './relays.js';
import type { ActiveFaults } from './faults.js';
import { bearerToken, isRecord } from './http-util.js';

export const SUBPROTOCOL = 'relay.v1';
export const MAX_FRAME_BYTES = 1024 * 1024;

const RELAY_FRAME_TYPES = new Set(['ack', 'nack', 'task.state', 'task.result', 'device.status', 'device.event', 'image.status', 'rollout.state', 'rollout.result']);
const REQUIRED: Record<string, readonly string[]> = {
  'task.state': ['taskId', 'state', 'totals'],
  'task.result': ['taskId', 'deviceId', 'outcome'],
  'device.status': ['deviceId', 'online'],
  'device.event': ['ip', 'event'],
  'image.status': ['imageId', 'state', 'bytes'],
  'rollout.state': ['rolloutId', 'state', 'totals'],
  'rollout.result': ['rolloutId', 'deviceId', 'outcome'],
};

interface Session {
  readonly ws: WebSocket;
  readonly relayId: string;
  readonly runId: string;
  frames: number;
  alive: boolean;
  silent: boolean;
}

export interface ControlEvents {
  connected(e: { relayId: string; runId: string }): void;
  disconnected(e: { relayId: string; code: number; reason: string }): void;
  frame(e: { relayId: string; frame: Record<string, unknown> }): void;
  duplicate(e: { relayId: string; id: string }): void;
  answer(e: { relayId: string; ref: string | null; kind: 'ack' | 'nack'; reason?: string }): void;
  refused(e: { relayId: string; status: number; why: string }): void;
  invalid(e: { relayId: string; reason: string }): void;
}

export interface ControlDeps {
  readonly relays: RelayBook;
  readonly faults: ActiveFaults;
  readonly pingIntervalMs: number;
  emit<K extends keyof ControlEvents>(event: K, payload: Parameters<ControlEvents[K]>[0]): void;
}

/**
 * The DMS end of the control channel (PROTOCOL §3): one session per relay (a newer one
 * supersedes with 4001), dedupe of relay frame ids, acks, and our own frames kept until the
 * relay acks them and resent, in order, on every new session.
 */
export class ControlHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, clientTracking: false });
  private readonly sessions = new Map<string, Session>();
  /** Our frames to each relay that it has not answered yet, in creation order. */
  private readonly pending = new Map<string, Map<string, string>>();
  private readonly pinger: NodeJS.Timeout;

  constructor(private readonly deps: ControlDeps) {
    this.pinger = setInterval(() => this.pingAll(), deps.pingIntervalMs);
    this.pinger.unref();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, relayId: string): void {
    const refuse = (status: number, why: string) => {
      this.deps.emit('refused', { relayId, status, why });
      socket.end(
        `HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 503 ? 'Service Unavailable' : 'Bad Request'}\r\nconnection: close\r\ncontent-type: application/json\r\n\r\n${JSON.stringify({ error: why })}`,
      );
    };
    if (Date.now() < this.deps.faults.refuseUpgradesUntil) return refuse(503, 'unavailable');
    const relay = this.deps.relays.byToken(bearerToken(req));
    if (!relay || relay.relayId !== relayId) return refuse(401, 'invalid_token');
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((s) => s.trim());
    if (!protocols.includes(SUBPROTOCOL)) return refuse(400, `subprotocol ${SUBPROTOCOL} required`);
    const runId = req.headers['x-relay-run-id'];
    if (typeof runId !== 'string' || runId === '') return refuse(400, 'X-Relay-Run-Id required');
    this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws, relay, runId));
  }

  private attach(ws: WebSocket, relay: SimRelay, runId: string): void {
    const old = this.sessions.get(relay.relayId);
    const session: Session = { ws, relayId: relay.relayId, runId, frames: 0, alive: true, silent: false };
    this.sessions.set(relay.relayId, session);
    if (old) {
      old.ws.close(4001, 'superseded');
      setTimeout(() => old.ws.terminate(), 1000).unref();
    }
    ws.on('pong', () => {
      session.alive = true;
    });
    ws.on('message', (data, isBinary) => this.onMessage(session, relay, data, isBinary));
    ws.on('error', () => undefined);
    ws.on('close', (code, reason) => {
      if (this.sessions.get(relay.relayId) === session) this.sessions.delete(relay.relayId);
      this.deps.emit('disconnected', { relayId: relay.relayId, code, reason: reason.toString() });
    });
    this.deps.emit('connected', { relayId: relay.relayId, runId });
    if (this.deps.faults.silentSessions) {
      this.silence(session);
      return;
    }
    for (const text of this.pending.get(relay.relayId)?.values() ?? []) ws.send(text);
  }

  private silence(s: Session): void {
    s.silent = true;
    s.ws.pause();
  }

  private onMessage(s: Session, relay: SimRelay, data: RawData, isBinary: boolean): void {
    if (s.silent) return;
    const invalid = (reason: string) => {
      this.deps.emit('invalid', { relayId: relay.relayId, reason });
      s.ws.close(4008, reason.slice(0, 120));
    };
    if (isBinary) return invalid('binary frame');
    let frame: unknown;
    try {
      frame = JSON.parse(rawText(data));
    } catch {
      return invalid('frame ? invalid: not JSON');
    }
    if (!isRecord(frame)) return invalid('frame ? invalid: not an object');
    const id = typeof frame.id === 'string' && frame.id !== '' ? frame.id : undefined;
    if (!id) return invalid('frame ? invalid: id');
    if (frame.v !== 1) return invalid(`frame ${id} invalid: v`);
    if (typeof frame.type !== 'string' || !RELAY_FRAME_TYPES.has(frame.type)) return invalid(`frame ${id} invalid: type`);
    if (typeof frame.ts !== 'string') return invalid(`frame ${id} invalid: ts`);
    if (frame.type === 'ack' || frame.type === 'nack') {
      const ref = typeof frame.ref === 'string' ? frame.ref : null;
      if (frame.type === 'ack' && ref === null) return invalid(`frame ${id} invalid: ref`);
      const reason = typeof frame.reason === 'string' ? frame.reason : '';
      if (ref !== null) {
        relay.answers.set(ref, frame.type === 'ack' ? 'ack' : `nack: ${reason}`);
        this.pending.get(relay.relayId)?.delete(ref);
      }
      this.deps.emit('answer', frame.type === 'ack' ? { relayId: relay.relayId, ref, kind: 'ack' } : { relayId: relay.relayId, ref, kind: 'nack', reason });
      return;
    }
    for (const field of REQUIRED[frame.type] ?? []) {
      if (frame[field] === undefined) return invalid(`frame ${id} invalid: ${field}`);
    }
    s.frames++;
    const drop = this.deps.faults.dropEveryNFrames > 0 && s.frames % this.deps.faults.dropEveryNFrames === 0;
    if (relay.seenIds.has(id)) {
      relay.duplicates++;
      this.deps.emit('duplicate', { relayId: relay.relayId, id });
    } else {
      relay.seenIds.add(id);
      relay.received.push({ id, type: frame.type, frame, receivedAt: Date.now() });
      this.deps.emit('frame', { relayId: relay.relayId, frame });
    }
    if (drop) {
      // Stored but not acked: the relay must resend it, and we must drop the duplicate.
      s.ws.terminate();
      return;
    }
    if (this.deps.faults.withholdAcks) return;
    const answer = this.deps.faults.nackTypes.includes(frame.type) ? { type: 'nack', ref: id, reason: 'simulated refusal' } : { type: 'ack', ref: id };
    s.ws.send(JSON.stringify({ v: 1, id: randomUUID(), ts: new Date().toISOString(), ...answer }));
  }

  /** Queues a frame for the relay (kept and resent until it answers) and sends it if connected. */
  send(relayId: string, frame: Record<string, unknown>): string {
    const id = typeof frame.id === 'string' ? frame.id : randomUUID();
    const full = { v: 1, id, ts: new Date().toISOString(), ...frame };
    const text = JSON.stringify(full);
    let q = this.pending.get(relayId);
    if (!q) this.pending.set(relayId, (q = new Map()));
    q.set(id, text);
    const s = this.sessions.get(relayId);
    if (s && !s.silent) s.ws.send(text);
    return id;
  }

  /** Sends text as is, once, without queueing (malformed-frame tests). False when not connected. */
  sendRaw(relayId: string, data: string | Buffer, binary = false): boolean {
    const s = this.sessions.get(relayId);
    if (!s || s.silent) return false;
    s.ws.send(data, { binary });
    return true;
  }

  connected(relayId: string): boolean {
    return this.sessions.has(relayId);
  }

  runId(relayId: string): string | undefined {
    return this.sessions.get(relayId)?.runId;
  }

  pendingCount(relayId: string): number {
    return this.pending.get(relayId)?.size ?? 0;
  }

  /** The current session stops reading and answering: a half-open peer as the relay sees it. */
  goSilent(relayId: string): boolean {
    const s = this.sessions.get(relayId);
    if (!s) return false;
    this.silence(s);
    return true;
  }

  /** Closes the relay's session: with a code, or (no code) by dropping the TCP connection. */
  disconnect(relayId: string, code?: number, reason = ''): boolean {
    const s = this.sessions.get(relayId);
    if (!s) return false;
    if (code === undefined) s.ws.terminate();
    else s.ws.close(code, reason);
    return true;
  }

  private pingAll(): void {
    for (const s of this.sessions.values()) {
      if (s.silent) continue;
      if (!s.alive) {
        s.ws.terminate();
        continue;
      }
      s.alive = false;
      s.ws.ping();
    }
  }

  close(): void {
    clearInterval(this.pinger);
    for (const s of this.sessions.values()) s.ws.terminate();
    this.sessions.clear();
    this.wss.close();
  }
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
