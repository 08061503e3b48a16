import type { SyncWindow } from './catalogue.js';

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/**
 * Sync window arithmetic. PROTOCOL: all times are UTC, so `start`/`end` are UTC wall-clock
 * times and a `notBefore` without an offset is read as UTC. A window whose end is not after
 * its start runs past midnight into the next day (start == end: the whole day). `days` are
 * the days on which a window starts.
 */
function minutes(hhmm: string): number {
  const [h = 0, m = 0] = hhmm.split(':').map(Number);
  return h * 60 + m;
}

export function notBeforeMs(w: SyncWindow): number | undefined {
  if (!w.notBefore) return undefined;
  const s = /(Z|[+-]\d{2}:\d{2})$/.test(w.notBefore) ? w.notBefore : `${w.notBefore}Z`;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
}

export function windowOpen(w: SyncWindow | null, nowMs: number): boolean {
  if (!w) return true;
  const nb = notBeforeMs(w);
  if (nb !== undefined && nowMs < nb) return false;
  const d = new Date(nowMs);
  const t = d.getUTCHours() * 60 + d.getUTCMinutes();
  const start = minutes(w.start);
  const end = minutes(w.end);
  const today = DAY_NAMES[d.getUTCDay()] as string;
  const yesterday = DAY_NAMES[(d.getUTCDay() + 6) % 7] as string;
  const listed = (day: string) => (w.days as readonly string[]).includes(day);
  if (start < end) return listed(today) && t >= start && t < end;
  if (start === end) return listed(today);
  // Crosses midnight: the late part belongs to today's window, the early part to yesterday's.
  return (listed(today) && t >= start) || (listed(yesterday) && t < end);
}

/** The next minute at or after `nowMs` at which the window is open (within 8 days of the earliest start), or undefined. */
export function nextOpening(w: SyncWindow | null, nowMs: number): number | undefined {
  if (windowOpen(w, nowMs)) return nowMs;
  if (!w) return nowMs;
  const from = Math.max(nowMs, notBeforeMs(w) ?? nowMs);
  let t = Math.ceil(from / 60_000) * 60_000;
  for (let i = 0; i < 8 * 24 * 60; i++, t += 60_000) {
    if (windowOpen(w, t)) return t;
  }
  return undefined;
}

/** Cron expression (UTC) firing at each window start. */
export function windowCron(w: SyncWindow): string {
  const [h, m] = w.start.split(':').map(Number);
  return `${m} ${h} * * ${w.days.join(',')}`;
}
