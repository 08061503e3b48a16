import type { KvStore } from './kv.js';

/** What the relay keeps of its registration between runs (the token is a secret: never log it). */
export interface StoredRegistration {
  relayId: string;
  token: string;
  tokenExpiresAt: string;
  heartbeatIntervalSeconds: number;
  controlUrl: string;
  provisioningUrl: string;
  site: { id: string; name: string; subnets: string[]; siteSpecific: boolean };
  /** Which DMS issued it: a relay moved to another DMS registers afresh. */
  dmsUrl: string;
}

export interface StoredCredentials {
  tenantId: string;
  pin: string;
  storedAt: string;
}

const REG_KEY = 'registration';
const RELAY_ID_KEY = 'relayId';
const CREDS_KEY = 'credentials';
const HEARTBEAT_SEQ_KEY = 'heartbeat.seq';

/** The registration facts and credentials, kept in the kv table. */
export class RegistrationRepository {
  constructor(private readonly kv: KvStore) {}

  relayId(): string | undefined {
    return this.kv.get(RELAY_ID_KEY);
  }

  load(): StoredRegistration | undefined {
    try {
      return this.kv.getJson<StoredRegistration>(REG_KEY);
    } catch {
      return undefined;
    }
  }

  save(reg: StoredRegistration): void {
    this.kv.set(RELAY_ID_KEY, reg.relayId);
    this.kv.setJson(REG_KEY, reg);
  }

  /** Drops the token (kept: the relayId, which is for ever). */
  forgetToken(): void {
    this.kv.delete(REG_KEY);
  }

  credentials(): StoredCredentials | undefined {
    try {
      return this.kv.getJson<StoredCredentials>(CREDS_KEY);
    } catch {
      return undefined;
    }
  }

  saveCredentials(c: StoredCredentials): void {
    this.kv.setJson(CREDS_KEY, c);
  }

  nextHeartbeatSeq(): number {
    const n = Number(this.kv.get(HEARTBEAT_SEQ_KEY) ?? '0') + 1;
    this.kv.set(HEARTBEAT_SEQ_KEY, String(n));
    return n;
  }
}
