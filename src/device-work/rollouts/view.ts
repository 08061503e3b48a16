import { z } from 'zod';
import type { RolloutRepo } from '../../store/rollouts.js';
import { policySchema } from './policy.js';
import { windowAt } from './windows.js';
import { rolloutTotalsSchema } from '../../core/status.js';

/**
 * The admin port's `/rollouts` document (`cloud-relay rollouts` reads it): the newest rollouts
 * with their policy in short, their window as of now, devices per phase and the latest failures.
 * The schema is the contract between the daemon and the CLI; the CLI parses with it.
 */

const count = z.number().int().nonnegative();
const iso = z.string();

export const rolloutViewSchema = z.object({
  rolloutId: z.string(),
  name: z.string(),
  imageId: z.string(),
  state: z.string(),
  reason: z.string().nullable(),
  submittedAt: iso,
  finishedAt: iso.nullable(),
  policy: z.object({
    schedule: z.string(),
    timezone: z.string().nullable(),
    maxConcurrent: count,
    maxPerMinute: z.number().nullable(),
    idleMinutes: count,
  }),
  /** The window open now or the next one; null once none will open again (or the rollout is over). */
  window: z.object({ open: z.boolean(), start: iso, end: iso.nullable() }).nullable(),
  totals: rolloutTotalsSchema,
  /** The newest failures (device and reason), at most FAILURES_SHOWN. */
  failures: z.array(z.object({ deviceId: z.string(), reason: z.string().nullable() })),
});
export type RolloutView = z.infer<typeof rolloutViewSchema>;

export const rolloutsDocumentSchema = z.object({ now: iso, rollouts: z.array(rolloutViewSchema) });
export type RolloutsDocument = z.infer<typeof rolloutsDocumentSchema>;

export const ROLLOUTS_LISTED = 50;
export const FAILURES_SHOWN = 5;

function scheduleText(s: z.infer<typeof policySchema>['schedule']): string {
  const days = s.days && s.days.length > 0 ? ` ${s.days.join(',')}` : '';
  const win = s.window ? ` ${s.window.start}–${s.window.end}` : '';
  return `${s.kind}${days}${win}`;
}

export function rolloutsDocument(repo: RolloutRepo, now: number, limit = ROLLOUTS_LISTED): RolloutsDocument {
  const rollouts = repo.list(limit).map((r): RolloutView => {
    const parsed = policySchema.safeParse(JSON.parse(r.policy));
    const policy = parsed.success ? parsed.data : undefined;
    const w = policy && r.finishedAt === null ? windowAt(policy.schedule, now, r.submittedAt) : undefined;
    const end = w?.window?.end;
    return {
      rolloutId: r.rolloutId,
      name: r.name,
      imageId: r.imageId,
      state: r.state,
      reason: r.reason,
      submittedAt: new Date(r.submittedAt).toISOString(),
      finishedAt: r.finishedAt === null ? null : new Date(r.finishedAt).toISOString(),
      policy: {
        schedule: policy ? scheduleText(policy.schedule) : 'unreadable policy',
        timezone: policy?.schedule.timezone ?? null,
        maxConcurrent: policy?.maxConcurrent ?? 0,
        maxPerMinute: policy?.maxPerMinute ?? null,
        idleMinutes: policy?.idleMinutes ?? 0,
      },
      window: w?.window
        ? { open: w.open, start: new Date(w.window.start).toISOString(), end: end === undefined || !Number.isFinite(end) ? null : new Date(end).toISOString() }
        : null,
      totals: repo.totals(r.rolloutId),
      failures: repo.failures(r.rolloutId, FAILURES_SHOWN),
    };
  });
  return { now: new Date(now).toISOString(), rollouts };
}
