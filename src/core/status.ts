import { z } from 'zod';

/**
 * The status document: the one description of the relay's state. The composition root
 * builds it once per `/status` request, heartbeat and metrics scrape from the getters the
 * parts contribute; the heartbeat body (docs/protocol.md §2), `/status`, `/metrics` and
 * `cloud-relay status` all read this type. The schemas are for where the document enters
 * from outside (the CLI reads it over HTTP from a relay that may be older or newer), so each
 * section is parsed on its own and one unknown section never hides the others.
 *
 * Adding a section: add its schema to `statusSectionSchemas`, return a getter for it from the
 * wiring function of the part that owns it (`status: { name: () => … }`), and the compiler
 * points at the composition root until the section is supplied there; then teach readers that
 * care (cli/status-format.ts prints unknown sections raw until it has a line for it).
 */

const count = z.number().int().nonnegative();

/** A rollout's devices counted per phase (status document, heartbeat and the rollouts view alike). */
export const rolloutTotalsSchema = z.object({
  total: count,
  upgraded: count,
  alreadyCurrent: count,
  inProgress: count,
  waitingIdle: count,
  failed: count,
  notApplicable: count,
  notStarted: count,
});
const isoTime = z.string();
/** A failure remembered for the operator: stable code, the catalogued sentence, when. */
const lastError = z.object({ code: z.string(), message: z.string(), at: isoTime });

export const readinessSchema = z.object({
  ready: z.boolean(),
  checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string().optional() })),
});

/** The phone-facing certificate as loaded (PROTOCOL §2 `cert`). */
export const loadedCertSchema = z.object({
  subject: z.string(),
  sans: z.array(z.string()),
  notAfter: isoTime,
  valid: z.boolean(),
  selfSigned: z.boolean().optional(),
  problems: z.array(z.string()).optional(),
});
/** Before any certificate could be loaded, `cert` still is an object, saying why there is none. */
export const missingCertSchema = z.object({ valid: z.literal(false), reason: z.string() });
export const certSchema = z.union([loadedCertSchema, missingCertSchema]);

export const statusSectionSchemas = {
  /** Every socket the relay listens on, with the bound port (admins find the phone port here). */
  listeners: z.array(z.object({ name: z.string(), url: z.string(), purpose: z.string() })),
  cert: certSchema,
  cache: z.object({ bytes: count, objects: count, hits: count, misses: count }),
  images: z.object({ synced: count, syncing: count, failed: count }),
  devices: z.object({ known: count, online: count }),
  /** Device tasks by state, and firmware rollouts not over yet with their devices upgrading or waiting for an idle phone. */
  tasks: z.object({ scheduled: count, running: count, rollouts: z.object({ active: count, devicesUpgrading: count, devicesWaitingIdle: count }) }),
  managementAgent: z.object({
    relayId: z.string().nullable(),
    /** Tenant this relay registers for (an identifier, not a secret; the PIN never appears). */
    tenantId: z.string().nullable(),
    registered: z.boolean(),
    tokenExpiresAt: isoTime.nullable(),
    lastRegistrationError: lastError.nullable(),
    heartbeat: z.object({ intervalSeconds: z.number().nullable(), sent: count, lastOkAt: isoTime.nullable() }),
    control: z.object({
      connected: z.boolean(),
      /** When the current connection opened (null while down). */
      since: isoTime.nullable(),
      /** When the channel last went down, or when the relay started if it never came up (null while up). */
      downSince: isoTime.nullable(),
      reconnects: count,
      lastClose: z.object({ code: z.number(), reason: z.string(), at: isoTime }).nullable(),
      /** Why the last attempt or connection failed, as a sentence. */
      lastError: lastError.nullable(),
    }),
    outboxDepth: count,
    /** How the relay reaches the DMS API: direct or through the outbound proxy (password redacted), and why. Absent from older relays. */
    route: z.object({ via: z.enum(['direct', 'proxy']), proxy: z.string().nullable(), why: z.string() }).optional(),
  }),
  ipGuard: z.object({
    whitelisted: count,
    blocked: count,
    /** The most recently blocked addresses (bounded); `blocked` is the full count. */
    addresses: z
      .array(
        z.object({
          ip: z.string(),
          state: z.enum(['banned', 'blacklisted']),
          /** End of a ban; null for a blacklisting (lifted only by `cloud-relay ip unban`). */
          until: isoTime.nullable(),
          bans: count,
          lastFailure: z.string().nullable(),
          lastFailureAt: isoTime.nullable(),
        }),
      )
      .optional(),
  }),
  firmwareCache: z.object({
    bytes: count,
    objects: count,
    hits: count,
    misses: count,
    fills: count,
    reservedBytes: count,
    quotaBytes: count,
    lastError: lastError.nullable(),
  }),
  /** The DMS's desired image set (at most 40 by protocol, plus refused catalogue entries). */
  firmwareSync: z.object({
    lastSyncAt: isoTime.nullable(),
    lastError: z.string().nullable(),
    windowOpen: z.boolean(),
    nextWindowAt: isoTime.nullable(),
    images: z.array(z.object({ imageId: z.string(), path: z.string(), version: z.string(), size: count, state: z.string(), bytes: count, reason: z.string().nullable() })),
  }),
  /** Phones aggregated in the store: bounded whatever the fleet size. */
  phones: z.object({
    known: count,
    online: count,
    /** The largest model/firmware groups, biggest first (at most PHONE_GROUPS_SHOWN). */
    groups: z.array(z.object({ model: z.string(), firmware: z.string(), known: count, online: count })),
    /** What the groups above leave out. */
    otherGroups: z.object({ groups: count, known: count, online: count }),
    /** The most recently offline phones, newest first (at most RECENTLY_OFFLINE_SHOWN). */
    recentlyOffline: z.array(z.object({ deviceId: z.string(), mac: z.string(), ip: z.string(), model: z.string(), offlineSince: isoTime.nullable() })),
  }),
  /** The newest tasks with their targets counted per outcome. */
  recentTasks: z.array(
    z.object({
      taskId: z.string(),
      name: z.string(),
      kind: z.string(),
      state: z.string(),
      createdAt: isoTime,
      total: count,
      success: count,
      failure: count,
      notApplicable: count,
      inProgress: count,
    }),
  ),
  /** Firmware rollouts with their phones counted per phase. */
  rollouts: z.array(
    z.object({
      rolloutId: z.string(),
      name: z.string(),
      imageId: z.string(),
      state: z.string(),
      reason: z.string().nullable(),
      submittedAt: isoTime,
      totals: rolloutTotalsSchema,
    }),
  ),
  deviceWork: z.object({
    queued: count,
    inFlight: count,
    polls: count,
    pollFailures: count,
    /** Polls put off to the phone's next turn because the relay holds back from it for now (OpenStage: one contact-me a minute). */
    pollsDeferred: count,
    notifications: count,
    notificationsRefused: count,
    captureSlots: count,
  }),
} as const;

export const statusHeaderSchema = z.object({
  version: z.string(),
  startedAt: isoTime,
  uptimeSeconds: z.number(),
  draining: z.boolean(),
  readiness: readinessSchema,
});

export const statusDocumentSchema = statusHeaderSchema.extend(statusSectionSchemas);

export type SectionName = keyof typeof statusSectionSchemas;
export type StatusSections = { [K in SectionName]: z.infer<(typeof statusSectionSchemas)[K]> };
export type StatusHeader = z.infer<typeof statusHeaderSchema>;
export type StatusDocument = StatusHeader & StatusSections;
export type CertStatus = StatusSections['cert'];
export type LoadedCertStatus = z.infer<typeof loadedCertSchema>;

/** One getter per section; a part's wiring returns the getters of the sections it owns. */
export type StatusSources = { readonly [K in SectionName]: () => StatusSections[K] };

export type ReadinessSummary = StatusHeader['readiness'];
export type LastError = z.infer<typeof lastError>;
export type AgentStatus = StatusSections['managementAgent'];
export type ControlLinkStatus = AgentStatus['control'];
export type FirmwareCacheStatus = StatusSections['firmwareCache'];
export type FirmwareSyncStatus = StatusSections['firmwareSync'];
export type FirmwareImageStatus = FirmwareSyncStatus['images'][number];
export type PhonesStatus = StatusSections['phones'];
export type PhoneGroup = PhonesStatus['groups'][number];
export type OfflinePhone = PhonesStatus['recentlyOffline'][number];
export type TaskSummary = StatusSections['recentTasks'][number];
export type RolloutSummary = StatusSections['rollouts'][number];
export type IpGuardStatus = StatusSections['ipGuard'];
export type BlockedAddress = NonNullable<IpGuardStatus['addresses']>[number];
export type DeviceWorkStatus = StatusSections['deviceWork'];

/** How many model/firmware groups, recently offline phones, tasks and blocked addresses the status carries. */
export const PHONE_GROUPS_SHOWN = 12;
export const RECENTLY_OFFLINE_SHOWN = 10;
export const RECENT_TASKS_SHOWN = 10;
export const BLOCKED_ADDRESSES_SHOWN = 20;

/** The order sections appear in the document (and in `/status`). */
export const SECTION_ORDER: readonly SectionName[] = Object.keys(statusSectionSchemas) as SectionName[];

/** The header and the named sections only: a reader that needs a few (a metrics scrape) does not pay for the rest. */
export type StatusPart<K extends SectionName> = StatusHeader & Pick<StatusSections, K>;

/** Reads each named section once, in the order given. */
export function buildStatusSections<K extends SectionName>(header: StatusHeader, sources: StatusSources, names: readonly K[]): StatusPart<K> {
  const doc: Record<string, unknown> = { ...header };
  for (const name of names) doc[name] = sources[name]();
  return doc as StatusPart<K>;
}

/** Reads every section once, in document order. */
export function buildStatusDocument(header: StatusHeader, sources: StatusSources): StatusDocument {
  return buildStatusSections(header, sources, SECTION_ORDER);
}
