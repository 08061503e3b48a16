import { WEEKDAYS, type Schedule } from './policy.js';
import { addDays, daysInMonth, hostTimeZone, instantOf, localDateOf, weekdayOf, type LocalDate } from './zoned-time.js';

/**
 * When a rollout may start devices: pure functions of a schedule and an instant.
 *
 * Each calendar day (in the schedule's zone) that the schedule lists yields exactly one
 * window, from its start time that day to its end time (the next day when the window crosses
 * midnight). Computing windows per calendar day, not by adding 24 h, is what keeps a DST
 * change from skipping or doubling one. `notBefore`/`notAfter` clip the windows.
 */

export interface Interval {
  readonly start: number;
  readonly end: number;
}

export interface WindowState {
  /** True when devices may start now. */
  readonly open: boolean;
  /** The window now open, or the next one; null when none will open again. */
  readonly window: Interval | null;
}

/** A monthly schedule for the 31st finds a window within 31 days; a year covers any schedule. */
const SEARCH_DAYS = 370;

function minutesOf(hhmm: string): number {
  const [h = 0, m = 0] = hhmm.split(':').map(Number);
  return h * 60 + m;
}

function listsDay(s: Schedule, date: LocalDate): boolean {
  const days = s.days ?? [];
  switch (s.kind) {
    case 'daily':
      return true;
    case 'once':
      // `once` takes the first window; listed weekdays, when given, narrow which day that is.
      return days.length === 0 || days.includes(WEEKDAYS[weekdayOf(date)] as (typeof WEEKDAYS)[number]);
    case 'weekly':
      return days.includes(WEEKDAYS[weekdayOf(date)] as (typeof WEEKDAYS)[number]);
    case 'monthly': {
      const last = daysInMonth(date.year, date.month);
      // A day past the end of a month means its last day.
      return days.some((d) => typeof d === 'number' && (d === date.day || (d > last && date.day === last)));
    }
  }
}

function windowOn(s: Schedule, date: LocalDate, zone: string): Interval {
  if (!s.window) {
    return { start: instantOf(date, 0, zone, 'earlier'), end: instantOf(addDays(date, 1), 0, zone, 'earlier') };
  }
  const startMin = minutesOf(s.window.start);
  const endMin = minutesOf(s.window.end);
  const endDate = endMin <= startMin ? addDays(date, 1) : date;
  // A repeated hour: open at its first showing and close at the last, so the window is never short of its wall-clock length.
  return { start: instantOf(date, startMin, zone, 'earlier'), end: instantOf(endDate, endMin, zone, 'later') };
}

function clip(w: Interval, notBefore: number | null, notAfter: number | null): Interval | null {
  const start = notBefore !== null ? Math.max(w.start, notBefore) : w.start;
  const end = notAfter !== null ? Math.min(w.end, notAfter) : w.end;
  return end > start ? { start, end } : null;
}

function ms(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

/**
 * The window open at `now`, else the next one, else null. `anchor` is when the rollout was
 * submitted: a `once` schedule without `notBefore` takes its first window from then, so asking
 * again later never finds a second "first" window.
 */
export function windowAt(s: Schedule, now: number, anchor: number): WindowState {
  const notBefore = ms(s.notBefore);
  const notAfter = ms(s.notAfter);

  if (s.kind === 'once' && !s.window && (s.days ?? []).length === 0) {
    const w = clip({ start: notBefore ?? anchor, end: Number.POSITIVE_INFINITY }, null, notAfter);
    return state(w, now);
  }
  // Asked only when a calendar is needed: resolving the host's zone is not free, and this runs on every decision.
  const zone = s.timezone ?? hostTimeZone();

  const onceFrom = s.kind === 'once' ? (notBefore ?? anchor) : null;
  const from = Math.max(now, onceFrom ?? Number.NEGATIVE_INFINITY, notBefore ?? Number.NEGATIVE_INFINITY);
  // Start a day early: a window that crosses midnight may have opened yesterday.
  let date = addDays(localDateOf(from, zone), -1);
  for (let i = 0; i < SEARCH_DAYS; i++, date = addDays(date, 1)) {
    if (!listsDay(s, date)) continue;
    const raw = windowOn(s, date, zone);
    if (onceFrom !== null && raw.end <= onceFrom) continue;
    const w = clip(raw, notBefore, notAfter);
    if (onceFrom !== null) {
      // The first window after the anchor is the only one; once it has passed there is none.
      return state(w && w.end > now ? w : null, now);
    }
    if (w === null) {
      if (notAfter !== null && raw.start >= notAfter) return state(null, now);
      continue;
    }
    if (w.end > now) return state(w, now);
  }
  return state(null, now);
}

function state(w: Interval | null, now: number): WindowState {
  if (w === null || w.end <= now) return { open: false, window: null };
  return { open: w.start <= now, window: w };
}

/** When the next window opens, for `rollout.state.nextWindowAt`; null while one is open or none will. */
export function nextWindowAt(s: Schedule, now: number, anchor: number): number | null {
  const st = windowAt(s, now, anchor);
  return st.open || st.window === null ? null : st.window.start;
}
