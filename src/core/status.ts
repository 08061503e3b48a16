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
const isoTime = z.string();
// `at` is optional for readers: older relays' documents may lack it.
const problem = z.object({ code: z.string(), message: z.string(), at: isoTime.optional() });

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
  tasks: z.object({ scheduled: count, running: count }),
  managementAgent: z.object({
    relayId: z.string().nullable(),
    registered: z.boolean(),
    tokenExpiresAt: isoTime.nullable(),
    lastRegistrationError: problem.nullable(),
    heartbeat: z.object({ intervalSeconds: z.number().nullable(), sent: count, lastOkAt: isoTime.nullable() }),
    control: z.object({
      connected: z.boolean(),
      since: isoTime.nullable(),
      reconnects: count,
      lastClose: z.object({ code: z.number(), reason: z.string(), at: isoTime.optional() }).nullable(),
    }),
    outboxDepth: count,
  }),
  ipGuard: z.object({ whitelisted: count, blocked: count }),
  firmwareCache: z.object({
    bytes: count,
    objects: count,
    hits: count,
    misses: count,
    fills: count,
    reservedBytes: count,
    quotaBytes: count,
    lastError: problem.nullable(),
  }),
  deviceWork: z.object({
    queued: count,
    inFlight: count,
    polls: count,
    pollFailures: count,
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

/** The order sections appear in the document (and in `/status`). */
export const SECTION_ORDER: readonly SectionName[] = Object.keys(statusSectionSchemas) as SectionName[];

/** Reads every section once, in document order. */
export function buildStatusDocument(header: StatusHeader, sources: StatusSources): StatusDocument {
  const doc: Record<string, unknown> = { ...header };
  for (const name of SECTION_ORDER) doc[name] = sources[name]();
  return doc as StatusDocument;
}
