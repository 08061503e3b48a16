/**
 * What the heartbeat, readiness, `cloud-relay status` and metrics report about each part.
 * Each part fills its own getter in the composition root; a part not built yet reports zeros.
 */
export interface CertStatus {
  subject: string;
  sans: string[];
  notAfter: string;
  valid: boolean;
  selfSigned?: boolean;
  problems?: string[];
}

export interface StatusSources {
  cert?: () => CertStatus | null;
  cache?: () => { bytes: number; objects: number; hits: number; misses: number };
  images?: () => { synced: number; syncing: number; failed: number };
  devices?: () => { known: number; online: number };
  tasks?: () => { scheduled: number; running: number };
  /** Detail sections of the status document (not in the heartbeat). */
  agent?: () => AgentStatus;
  firmwareCache?: () => FirmwareCacheStatus;
  firmwareSync?: () => FirmwareSyncStatus;
  phones?: () => PhonesStatus;
  recentTasks?: () => TaskSummary[];
  rollouts?: () => RolloutSummary[];
  ipGuard?: () => IpGuardStatus;
  deviceWork?: () => DeviceWorkStatus;
}

export function zeroStatus(sources: StatusSources) {
  return {
    cert: sources.cert?.() ?? null,
    cache: sources.cache?.() ?? { bytes: 0, objects: 0, hits: 0, misses: 0 },
    images: sources.images?.() ?? { synced: 0, syncing: 0, failed: 0 },
    devices: sources.devices?.() ?? { known: 0, online: 0 },
    tasks: sources.tasks?.() ?? { scheduled: 0, running: 0 },
  };
}

/** One readiness check as `/readyz` reports it. */
export interface ReadinessSummary {
  ready: boolean;
  checks: { name: string; ok: boolean; detail?: string }[];
}

/** A failure remembered for the operator: stable code, the catalogued sentence, when. */
export interface LastError {
  code: string;
  message: string;
  at: string;
}

/** The DMS link as the management agent sees it. */
export interface AgentStatus {
  relayId: string | null;
  /** Tenant this relay registers for (an identifier, not a secret; the PIN never appears). */
  tenantId: string | null;
  registered: boolean;
  tokenExpiresAt: string | null;
  lastRegistrationError: LastError | null;
  heartbeat: { intervalSeconds: number | null; sent: number; lastOkAt: string | null };
  control: ControlLinkStatus;
  outboxDepth: number;
}

export interface ControlLinkStatus {
  connected: boolean;
  /** When the current connection opened (null while down). */
  since: string | null;
  /** When the channel last went down, or when the relay started if it never came up (null while up). */
  downSince: string | null;
  reconnects: number;
  lastClose: { code: number; reason: string; at: string } | null;
  /** Why the last attempt or connection failed, as a sentence. */
  lastError: LastError | null;
}

export interface FirmwareCacheStatus {
  bytes: number;
  objects: number;
  hits: number;
  misses: number;
  fills: number;
  reservedBytes: number;
  quotaBytes: number;
  lastError: LastError | null;
}

/** One image of the DMS's desired set (at most 40 by protocol, plus refused catalogue entries). */
export interface FirmwareImageStatus {
  imageId: string;
  path: string;
  version: string;
  size: number;
  state: string;
  bytes: number;
  reason: string | null;
}

export interface FirmwareSyncStatus {
  lastSyncAt: string | null;
  lastError: string | null;
  windowOpen: boolean;
  nextWindowAt: string | null;
  images: FirmwareImageStatus[];
}

/** Phones of one model on one firmware version. */
export interface PhoneGroup {
  model: string;
  firmware: string;
  known: number;
  online: number;
}

export interface OfflinePhone {
  deviceId: string;
  mac: string;
  ip: string;
  model: string;
  offlineSince: string | null;
}

/** Phones aggregated in the store: bounded whatever the fleet size. */
export interface PhonesStatus {
  known: number;
  online: number;
  /** The largest groups, biggest first (at most PHONE_GROUPS_SHOWN). */
  groups: PhoneGroup[];
  /** What the groups above leave out. */
  otherGroups: { groups: number; known: number; online: number };
  /** The most recently offline phones, newest first (at most ten). */
  recentlyOffline: OfflinePhone[];
}

/** A task with its targets counted per outcome. */
export interface TaskSummary {
  taskId: string;
  name: string;
  kind: string;
  state: string;
  createdAt: string;
  total: number;
  success: number;
  failure: number;
  notApplicable: number;
  inProgress: number;
}

/** A firmware rollout with its phones counted per phase. */
export interface RolloutSummary {
  rolloutId: string;
  name: string;
  imageId: string;
  state: string;
  reason: string | null;
  submittedAt: string;
  totals: {
    total: number;
    upgraded: number;
    alreadyCurrent: number;
    inProgress: number;
    waitingIdle: number;
    failed: number;
    notApplicable: number;
    notStarted: number;
  };
}

export interface BlockedAddress {
  ip: string;
  state: 'banned' | 'blacklisted';
  /** End of a ban; null for a blacklisting (lifted only by `cloud-relay ip unban`). */
  until: string | null;
  bans: number;
  lastFailure: string | null;
  lastFailureAt: string | null;
}

export interface IpGuardStatus {
  whitelisted: number;
  blocked: number;
  /** The most recently blocked addresses (bounded); `blocked` is the full count. */
  addresses?: BlockedAddress[];
}

export interface DeviceWorkStatus {
  queued: number;
  inFlight: number;
  polls: number;
  pollFailures: number;
  notifications: number;
  notificationsRefused: number;
  captureSlots: number;
}

/**
 * The status document: built once per request by the composition root and read by `/status`,
 * the HTML status page, metrics and the CLI. Sections of parts that are not wired are absent
 * (or null for the heartbeat's fixed fields).
 */
export interface StatusDocument {
  version: string;
  startedAt: string;
  uptimeSeconds: number;
  draining: boolean;
  readiness?: ReadinessSummary;
  /** Every socket the relay listens on, with its bound address. */
  listeners?: { name: string; url: string; purpose: string }[];
  cert: CertStatus | null;
  cache: { bytes: number; objects: number; hits: number; misses: number } | null;
  images: { synced: number; syncing: number; failed: number } | null;
  devices: { known: number; online: number } | null;
  tasks: { scheduled: number; running: number } | null;
  managementAgent?: AgentStatus;
  firmwareCache?: FirmwareCacheStatus;
  firmwareSync?: FirmwareSyncStatus;
  phones?: PhonesStatus;
  recentTasks?: TaskSummary[];
  /** Present once the rollout runner is wired in. */
  rollouts?: RolloutSummary[];
  ipGuard?: IpGuardStatus;
  deviceWork?: DeviceWorkStatus;
}

/** How many model/firmware groups and recently offline phones the status carries. */
export const PHONE_GROUPS_SHOWN = 12;
export const RECENTLY_OFFLINE_SHOWN = 10;
export const RECENT_TASKS_SHOWN = 10;
export const BLOCKED_ADDRESSES_SHOWN = 20;
