import { randomBytes, randomUUID } from 'node:crypto';

export const INACTIVE_AFTER_MS = 10 * 60 * 1000;

export interface HeartbeatRecord {
  readonly at: number;
  readonly body: Record<string, unknown>;
}

export interface ReceivedFrame {
  readonly id: string;
  readonly type: string;
  readonly frame: Record<string, unknown>;
  readonly receivedAt: number;
}

export interface SimRelay {
  readonly relayId: string;
  readonly tenantId: string;
  hostname: string;
  fqdn: string;
  version: string;
  registeredAt: number;
  registrations: number;
  token: string;
  tokenExpiresAt: number;
  lastHeartbeatAt: number | undefined;
  readonly heartbeats: HeartbeatRecord[];
  /** Actions returned with the next heartbeat answer. */
  readonly pendingActions: string[];
  /** Relay → DMS frames, first receipt only (dedupe by id), in arrival order. */
  readonly received: ReceivedFrame[];
  readonly seenIds: Set<string>;
  /** Frames the relay sent again after we had them (dropped by dedupe). */
  duplicates: number;
  /** The relay's answers to our frames: id → 'ack' | 'nack: reason'. */
  readonly answers: Map<string, string>;
}

export type RelayState = 'Active' | 'Inactive';

/** The relays the simulated DMS knows, their tokens and what they reported. */
export class RelayBook {
  private readonly relays = new Map<string, SimRelay>();
  private readonly tokens = new Map<string, string>();

  constructor(
    private readonly now: () => number,
    private readonly inactiveAfterMs = INACTIVE_AFTER_MS,
  ) {}

  /** Registers (or re-registers) a relay and issues a new token; an unknown relayId gets a new one. */
  register(tenantId: string, presentedId: string | null, info: { hostname: string; fqdn: string; version: string }, tokenTtlMs: number): SimRelay {
    const known = presentedId ? this.relays.get(presentedId) : undefined;
    let relay: SimRelay;
    if (known && known.tenantId === tenantId) {
      relay = known;
      this.tokens.delete(relay.token);
      Object.assign(relay, info);
      relay.registrations++;
    } else {
      relay = {
        relayId: randomUUID(),
        tenantId,
        ...info,
        registeredAt: this.now(),
        registrations: 1,
        token: '',
        tokenExpiresAt: 0,
        lastHeartbeatAt: undefined,
        heartbeats: [],
        pendingActions: [],
        received: [],
        seenIds: new Set(),
        duplicates: 0,
        answers: new Map(),
      };
      this.relays.set(relay.relayId, relay);
    }
    relay.token = randomBytes(24).toString('base64url');
    relay.tokenExpiresAt = this.now() + tokenTtlMs;
    this.tokens.set(relay.token, relay.relayId);
    return relay;
  }

  get(relayId: string): SimRelay | undefined {
    return this.relays.get(relayId);
  }

  all(): SimRelay[] {
    return [...this.relays.values()];
  }

  /** The relay a bearer token belongs to, if the token is current and unexpired. */
  byToken(token: string | undefined): SimRelay | undefined {
    if (!token) return undefined;
    const id = this.tokens.get(token);
    const relay = id ? this.relays.get(id) : undefined;
    if (!relay || relay.token !== token || relay.tokenExpiresAt <= this.now()) return undefined;
    return relay;
  }

  revokeToken(relayId: string): void {
    const r = this.relays.get(relayId);
    if (!r) return;
    this.tokens.delete(r.token);
    r.tokenExpiresAt = 0;
  }

  state(relay: SimRelay): RelayState {
    return relay.lastHeartbeatAt !== undefined && this.now() - relay.lastHeartbeatAt < this.inactiveAfterMs ? 'Active' : 'Inactive';
  }
}
