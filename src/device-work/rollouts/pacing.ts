import type { AbortRule, RolloutPolicy } from './policy.js';

/**
 * How fast a rollout may start devices, and when it must stop: pure arithmetic over counts
 * and instants, so the runner only asks and every rule is tested without a timer.
 */

const MINUTE = 60_000;

/**
 * Starts allowed per minute after `succeeded` successes; null means no rate limit (only
 * `maxConcurrent` bounds the rollout). A ramp starts at `startPerMinute` and is multiplied by
 * `factor` after every `everySucceeded` successes, never above `maxPerMinute` (AWS IoT Jobs'
 * exponential rollout).
 */
export function ratePerMinute(policy: Pick<RolloutPolicy, 'maxPerMinute' | 'ramp'>, succeeded: number): number | null {
  const cap = policy.maxPerMinute ?? null;
  const ramp = policy.ramp ?? null;
  if (!ramp) return cap;
  const steps = Math.floor(Math.max(0, succeeded) / ramp.everySucceeded);
  // Past this many steps the ramp exceeds any allowed rate; stop multiplying before it overflows.
  const raised = ramp.startPerMinute * Math.pow(ramp.factor, Math.min(steps, 200));
  return cap === null ? raised : Math.min(cap, raised);
}

/**
 * The earliest instant the next device may start: starts are spaced evenly at 60 s / rate, so
 * a window fills at a steady pace instead of every device firing at its opening minute.
 */
export function nextStartAt(lastStartAt: number | null, rate: number | null, now: number): number {
  if (rate === null || lastStartAt === null) return now;
  return Math.max(now, lastStartAt + MINUTE / rate);
}

export interface Progress {
  /** Devices whose upgrade has ended, successfully or not (not_applicable excluded). */
  readonly finished: number;
  readonly failed: number;
}

/** True once at least `minDevices` have finished and `failurePercent` of them failed. */
export function shouldAbort(rule: AbortRule | null | undefined, p: Progress): boolean {
  if (!rule || p.finished < rule.minDevices || p.finished === 0) return false;
  return (p.failed / p.finished) * 100 >= rule.failurePercent;
}

export interface CallHistory {
  /** The phone is in a call now (or its call state is not known yet). */
  readonly inCall: boolean;
  /** When the relay last saw the phone in a call; null if never. */
  readonly lastCallAt: number | null;
}

/**
 * Whether a phone has been idle long enough to be upgraded, and if not, when it will be at the
 * earliest (null while a call lasts: its end is not known yet).
 */
export function idleSince(call: CallHistory, idleMinutes: number, now: number): { eligible: boolean; eligibleAt: number | null } {
  if (call.inCall) return { eligible: false, eligibleAt: null };
  if (call.lastCallAt === null || idleMinutes === 0) return { eligible: true, eligibleAt: now };
  const at = call.lastCallAt + idleMinutes * MINUTE;
  return { eligible: at <= now, eligibleAt: Math.max(at, now) };
}

/** How many more devices may start now under `maxConcurrent`. */
export function freeSlots(maxConcurrent: number, running: number): number {
  return Math.max(0, maxConcurrent - running);
}
