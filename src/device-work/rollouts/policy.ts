import { z } from 'zod';
import { isValidTimeZone } from './zoned-time.js';

/**
 * A rollout's update policy (docs/protocol.md §7) as it arrives in `rollout.submit` and
 * `rollout.update`. Parsed once where the frame enters; the defaults the protocol names are
 * filled in here so nothing downstream guesses them.
 */

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'must be HH:MM (00:00–24:00)');
const isoTime = z.iso.datetime({ offset: true });

export const windowSchema = z.object({ start: hhmm, end: hhmm });

export const scheduleSchema = z
  .object({
    kind: z.enum(['once', 'daily', 'weekly', 'monthly']),
    days: z
      .array(z.union([z.enum(WEEKDAYS), z.number().int().min(1).max(31)]))
      .max(31)
      .optional(),
    window: windowSchema.nullable().optional(),
    timezone: z.string().max(64).refine(isValidTimeZone, 'must be an IANA time zone name such as Europe/Berlin').optional(),
    notBefore: isoTime.nullable().optional(),
    notAfter: isoTime.nullable().optional(),
  })
  .superRefine((s, ctx) => {
    const days = s.days ?? [];
    if (s.kind === 'weekly') {
      if (days.length === 0) ctx.addIssue({ code: 'custom', path: ['days'], message: 'a weekly schedule needs days (mon…sun)' });
      if (days.some((d) => typeof d !== 'string')) ctx.addIssue({ code: 'custom', path: ['days'], message: 'weekly days are mon…sun' });
    }
    if (s.kind === 'monthly') {
      if (days.length === 0) ctx.addIssue({ code: 'custom', path: ['days'], message: 'a monthly schedule needs days (1–31)' });
      if (days.some((d) => typeof d !== 'number')) ctx.addIssue({ code: 'custom', path: ['days'], message: 'monthly days are 1–31' });
    }
    if (s.notBefore && s.notAfter && Date.parse(s.notAfter) <= Date.parse(s.notBefore)) {
      ctx.addIssue({ code: 'custom', path: ['notAfter'], message: 'must be after notBefore' });
    }
  });

export const rampSchema = z.object({
  startPerMinute: z.number().min(1).max(1000),
  factor: z.number().min(1.1).max(5),
  everySucceeded: z.number().int().min(1).max(100_000),
});

export const abortSchema = z.object({
  failurePercent: z.number().min(0).max(100),
  minDevices: z.number().int().min(1).max(100_000),
});

export const policySchema = z.object({
  schedule: scheduleSchema,
  idleMinutes: z.number().int().min(0).max(120).default(30),
  maxConcurrent: z.number().int().min(1).max(1000).default(50),
  maxPerMinute: z.number().min(1).max(1000).nullable().optional(),
  ramp: rampSchema.nullable().optional(),
  abort: abortSchema.nullable().optional(),
  rebootPrompt: z.boolean().default(false),
});

export type Schedule = z.infer<typeof scheduleSchema>;
export type RolloutPolicy = z.infer<typeof policySchema>;
export type Ramp = z.infer<typeof rampSchema>;
export type AbortRule = z.infer<typeof abortSchema>;
