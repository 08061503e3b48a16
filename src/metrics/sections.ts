import { z } from 'zod';

/**
 * The parts of the status document's named sections that metrics read. Parsed, not cast:
 * the sections belong to other parts and may change shape; a section that no longer
 * matches makes its metrics absent instead of wrong.
 */
const count = z.number().int().nonnegative();

export const agentSection = z.object({
  registered: z.boolean(),
  heartbeat: z.object({ sent: count, lastOkAt: z.string().nullable() }),
  control: z.object({ connected: z.boolean(), reconnects: count }),
  outboxDepth: count,
});
export type AgentSection = z.infer<typeof agentSection>;

export const ipGuardSection = z.object({ whitelisted: count, blocked: count });
export const firmwareCacheSection = z.object({ fills: count, quotaBytes: count, reservedBytes: count });
export const deviceWorkSection = z.object({ queued: count, inFlight: count, polls: count, pollFailures: count, notifications: count });
