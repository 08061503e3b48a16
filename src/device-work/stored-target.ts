import { targetSchema, type Target } from '../management-agent/frames.js';

/**
 * A target as stored with a task or device row, read back for the task runner and the poller
 * alike. It was validated when the frame arrived; it is checked again because the row may
 * come from an older relay version, and a bad row must become a clear reason, not a crash.
 */
export function parseStoredTarget(json: string): { ok: true; target: Target } | { ok: false; reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return { ok: false, reason: 'stored target is invalid: not JSON' };
  }
  // The store could not open the sealed password (its key was replaced): say so, not "invalid".
  const unreadable = (raw as { credentials?: { unreadable?: unknown } } | null)?.credentials?.unreadable;
  if (typeof unreadable === 'string') return { ok: false, reason: `stored device password unusable: ${unreadable}` };
  const parsed = targetSchema.safeParse(raw);
  return parsed.success ? { ok: true, target: parsed.data } : { ok: false, reason: `stored target is invalid: ${parsed.error.issues[0]?.message ?? 'unknown'}` };
}
