/** Plain-text formatting of numbers and times for the status page (no escaping here). */

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** "3 d 4 h", "2 h 5 min", "4 min 10 s", "12 s": two units are enough to read at a glance. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min ${sec} s`;
  return `${sec} s`;
}

/** Seconds from `iso` to `now` (negative when `iso` lies ahead); undefined for an unparsable time. */
export function secondsSince(iso: string, now: number): number | undefined {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? undefined : (now - t) / 1000;
}

/** "5 min 3 s ago" / "in 4 d 2 h". */
export function relative(iso: string, now: number): string {
  const s = secondsSince(iso, now);
  if (s === undefined) return iso;
  return s >= 0 ? `${formatDuration(s)} ago` : `in ${formatDuration(-s)}`;
}

/** "2026-12-07 15:04:05 UTC": an admin compares it with log lines, which are UTC. */
export function formatTime(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, ' UTC');
}

export function percent(part: number, whole: number): number {
  if (!(whole > 0)) return 0;
  return Math.min(100, Math.max(0, (part / whole) * 100));
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
