/**
 * Wall-clock time in an IANA zone, both ways, with nothing but `Intl`.
 *
 * A rollout window is written as local times ("02:00–04:00 Europe/Berlin"), but the relay runs
 * on instants. Two local times are awkward: one that never happens (the hour skipped when
 * clocks go forward) and one that happens twice (the hour repeated when they go back). The
 * caller says which instant it wants for a repeated time; a skipped time moves forward by the
 * size of the gap, as the clocks on the wall do, so a window is shortened and never lost.
 */

/** A calendar date (month 1–12). */
export interface LocalDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
}

export interface WallClock extends LocalDate {
  readonly hour: number;
  readonly minute: number;
  /** 0 = Sunday … 6 = Saturday. */
  readonly weekday: number;
}

const MINUTE = 60_000;
const DAY = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    // Throws RangeError for a zone the runtime does not know; callers validate with isValidTimeZone first.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

export function isValidTimeZone(zone: string): boolean {
  try {
    formatter(zone);
    return true;
  } catch {
    return false;
  }
}

/** The host's zone, the default when a policy names none. */
export function hostTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

function fields(instant: number, zone: string): { y: number; mo: number; d: number; h: number; mi: number; s: number } {
  const out = { y: 0, mo: 0, d: 0, h: 0, mi: 0, s: 0 };
  for (const p of formatter(zone).formatToParts(new Date(instant))) {
    const v = Number(p.value);
    if (p.type === 'year') out.y = v;
    else if (p.type === 'month') out.mo = v;
    else if (p.type === 'day') out.d = v;
    else if (p.type === 'hour') out.h = v;
    else if (p.type === 'minute') out.mi = v;
    else if (p.type === 'second') out.s = v;
  }
  return out;
}

/** Offset of `zone` from UTC at `instant`, in ms (Berlin in summer: +7_200_000). */
export function offsetAt(instant: number, zone: string): number {
  const f = fields(instant, zone);
  const wallAsUtc = Date.UTC(f.y, f.mo - 1, f.d, f.h, f.mi, f.s);
  return wallAsUtc - Math.floor(instant / 1000) * 1000;
}

export function wallClockOf(instant: number, zone: string): WallClock {
  const f = fields(instant, zone);
  const weekday = new Date(Date.UTC(f.y, f.mo - 1, f.d)).getUTCDay();
  return { year: f.y, month: f.mo, day: f.d, hour: f.h, minute: f.mi, weekday };
}

export function localDateOf(instant: number, zone: string): LocalDate {
  const w = wallClockOf(instant, zone);
  return { year: w.year, month: w.month, day: w.day };
}

export function addDays(date: LocalDate, days: number): LocalDate {
  const t = new Date(Date.UTC(date.year, date.month - 1, date.day) + days * DAY);
  return { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() };
}

export function weekdayOf(date: LocalDate): number {
  return new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay();
}

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * The instant at which the clocks of `zone` show `minutes` past midnight of `date`
 * (`minutes` may be 1440: midnight that ends the day). For a time shown twice, `prefer`
 * picks the first or the second showing; a time never shown maps to the instant the clocks
 * jump past it, shifted by the gap.
 */
export function instantOf(date: LocalDate, minutes: number, zone: string, prefer: 'earlier' | 'later'): number {
  const wallAsUtc = Date.UTC(date.year, date.month - 1, date.day) + minutes * MINUTE;
  // Any transition near this wall time lies between the offsets a day either side of it.
  const before = offsetAt(wallAsUtc - DAY, zone);
  const after = offsetAt(wallAsUtc + DAY, zone);
  const shows = (t: number) => t + offsetAt(t, zone) === wallAsUtc;
  const candidates = [...new Set([wallAsUtc - before, wallAsUtc - after])].filter(shows).sort((a, b) => a - b);
  if (candidates.length > 0) return (prefer === 'earlier' ? candidates[0] : candidates[candidates.length - 1]) as number;
  // Skipped by a forward jump: read the wall time with the offset in force before the jump.
  return wallAsUtc - before;
}
