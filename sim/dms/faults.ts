/** Faults the simulator can be told to produce, for tests and the demo. Windows use real time. */
export interface CannedResponse {
  status: number;
  body?: Record<string, unknown>;
  retryAfterSeconds?: number;
  /** How many requests get it (default 1). */
  times?: number;
}

export interface DmsFaults {
  /** Terminate the control socket after every Nth relay frame on a session, before acking it (0/undefined = off). */
  dropEveryNFrames?: number;
  /** Answer control upgrades with 503 until this many ms from when the fault was set. */
  refuseUpgradesForMs?: number;
  /** Next registrations get this answer instead of the real one. */
  register?: CannedResponse;
  /** Next heartbeats get this answer instead of the real one. */
  heartbeat?: CannedResponse;
  /** Added to serverTime in heartbeat answers (a DMS or relay with a wrong clock). */
  serverTimeOffsetMs?: number;
  /** New control sessions go silent at once (no reads, no pongs, no acks): a half-open peer. */
  silentSessions?: boolean;
  /** Relay frames are received (and deduped) but not acked; pings are still answered. */
  withholdAcks?: boolean;
  /** Relay frames of these types are answered with nack (reason "simulated refusal"). */
  nackTypes?: string[];
}

export interface ActiveFaults {
  dropEveryNFrames: number;
  refuseUpgradesUntil: number;
  register: CannedResponse | undefined;
  heartbeat: CannedResponse | undefined;
  serverTimeOffsetMs: number;
  silentSessions: boolean;
  withholdAcks: boolean;
  nackTypes: string[];
}

export function noFaults(): ActiveFaults {
  return {
    dropEveryNFrames: 0,
    refuseUpgradesUntil: 0,
    register: undefined,
    heartbeat: undefined,
    serverTimeOffsetMs: 0,
    silentSessions: false,
    withholdAcks: false,
    nackTypes: [],
  };
}

export function applyFaults(active: ActiveFaults, f: DmsFaults): void {
  if (f.dropEveryNFrames !== undefined) active.dropEveryNFrames = Math.max(0, Math.floor(f.dropEveryNFrames));
  if (f.refuseUpgradesForMs !== undefined) active.refuseUpgradesUntil = f.refuseUpgradesForMs > 0 ? Date.now() + f.refuseUpgradesForMs : 0;
  if (f.register !== undefined) active.register = f.register.status ? { times: 1, ...f.register } : undefined;
  if (f.heartbeat !== undefined) active.heartbeat = f.heartbeat.status ? { times: 1, ...f.heartbeat } : undefined;
  if (f.serverTimeOffsetMs !== undefined) active.serverTimeOffsetMs = f.serverTimeOffsetMs;
  if (f.silentSessions !== undefined) active.silentSessions = f.silentSessions;
  if (f.withholdAcks !== undefined) active.withholdAcks = f.withholdAcks;
  if (f.nackTypes !== undefined) active.nackTypes = [...f.nackTypes];
}

/** Takes one use of a canned response, if one is armed. */
export function takeCanned(active: ActiveFaults, key: 'register' | 'heartbeat'): CannedResponse | undefined {
  const c = active[key];
  if (!c) return undefined;
  const left = (c.times ?? 1) - 1;
  active[key] = left > 0 ? { ...c, times: left } : undefined;
  return c;
}
