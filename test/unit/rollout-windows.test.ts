import { describe, expect, it } from 'vitest';
import { policySchema, scheduleSchema, type Schedule } from '../../src/device-work/rollouts/policy.js';
import { nextWindowAt, windowAt, type Interval } from '../../src/device-work/rollouts/windows.js';
import { instantOf, offsetAt } from '../../src/device-work/rollouts/zoned-time.js';

const t = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();
const schedule = (s: unknown): Schedule => scheduleSchema.parse(s);
const show = (w: Interval | null) => (w ? `${iso(w.start)}..${iso(w.end)}` : null);

/** Every window that opens between `from` and `to`, walking the way the runner would. */
function windowsBetween(s: Schedule, from: number, to: number, anchor = from): string[] {
  const out: string[] = [];
  let now = from;
  for (let i = 0; i < 400; i++) {
    const st = windowAt(s, now, anchor);
    if (!st.window || st.window.start >= to) break;
    out.push(show(st.window) as string);
    now = st.window.end;
  }
  return out;
}

describe('zoned time', () => {
  it('knows Berlin offsets on both sides of each change', () => {
    expect(offsetAt(t('2026-03-29T00:59:00Z'), 'Europe/Berlin')).toBe(3_600_000);
    expect(offsetAt(t('2026-03-29T01:00:00Z'), 'Europe/Berlin')).toBe(7_200_000);
    expect(offsetAt(t('2026-10-25T00:59:00Z'), 'Europe/Berlin')).toBe(7_200_000);
    expect(offsetAt(t('2026-10-25T01:00:00Z'), 'Europe/Berlin')).toBe(3_600_000);
  });

  it('a skipped local time moves forward by the gap; a repeated one has two instants', () => {
    const spring = { year: 2026, month: 3, day: 29 };
    expect(iso(instantOf(spring, 150, 'Europe/Berlin', 'earlier'))).toBe('2026-03-29T01:30:00.000Z'); // 02:30 → 03:30 CEST
    const autumn = { year: 2026, month: 10, day: 25 };
    expect(iso(instantOf(autumn, 150, 'Europe/Berlin', 'earlier'))).toBe('2026-10-25T00:30:00.000Z');
    expect(iso(instantOf(autumn, 150, 'Europe/Berlin', 'later'))).toBe('2026-10-25T01:30:00.000Z');
  });
});

describe('rollout windows', () => {
  const nightly = schedule({ kind: 'daily', window: { start: '02:00', end: '04:00' }, timezone: 'Europe/Berlin' });

  it('is open inside the window and says when the next one opens outside it', () => {
    expect(windowAt(nightly, t('2026-12-08T01:30:00Z'), 0).open).toBe(true); // 02:30 CET
    const st = windowAt(nightly, t('2026-12-08T03:00:00Z'), 0); // 04:00 CET: just closed
    expect(st.open).toBe(false);
    expect(show(st.window)).toBe('2026-12-09T01:00:00.000Z..2026-12-09T03:00:00.000Z');
    expect(iso(nextWindowAt(nightly, t('2026-12-08T03:00:00Z'), 0) as number)).toBe('2026-12-09T01:00:00.000Z');
    expect(nextWindowAt(nightly, t('2026-12-08T01:30:00Z'), 0)).toBeNull();
  });

  it('DST forward (Berlin, March): one window a day, the skipped hour shortens it', () => {
    expect(windowsBetween(nightly, t('2026-03-27T12:00:00Z'), t('2026-03-31T12:00:00Z'))).toEqual([
      '2026-03-28T01:00:00.000Z..2026-03-28T03:00:00.000Z',
      '2026-03-29T01:00:00.000Z..2026-03-29T02:00:00.000Z', // 03:00–04:00 CEST: 02:00–03:00 never happened
      '2026-03-30T00:00:00.000Z..2026-03-30T02:00:00.000Z',
      '2026-03-31T00:00:00.000Z..2026-03-31T02:00:00.000Z',
    ]);
  });

  it('DST back (Berlin, October): one window a day, the repeated hour lengthens it, never twice', () => {
    expect(windowsBetween(nightly, t('2026-10-23T12:00:00Z'), t('2026-10-27T12:00:00Z'))).toEqual([
      '2026-10-24T00:00:00.000Z..2026-10-24T02:00:00.000Z',
      '2026-10-25T00:00:00.000Z..2026-10-25T03:00:00.000Z', // 02:00 CEST .. 04:00 CET
      '2026-10-26T01:00:00.000Z..2026-10-26T03:00:00.000Z',
      '2026-10-27T01:00:00.000Z..2026-10-27T03:00:00.000Z',
    ]);
    // Inside the repeated hour (the second 02:30) the same window is still open, not a new one.
    const st = windowAt(nightly, t('2026-10-25T01:30:00Z'), 0);
    expect(st.open).toBe(true);
    expect(iso(st.window?.start as number)).toBe('2026-10-25T00:00:00.000Z');
  });

  it('a window across midnight belongs to the day it starts', () => {
    const s = schedule({ kind: 'weekly', days: ['mon'], window: { start: '22:00', end: '02:00' }, timezone: 'UTC' });
    // 2026-12-07 is a Monday.
    expect(windowAt(s, t('2026-12-07T21:59:00Z'), 0).open).toBe(false);
    expect(windowAt(s, t('2026-12-07T23:00:00Z'), 0).open).toBe(true);
    expect(windowAt(s, t('2026-12-08T01:59:00Z'), 0).open).toBe(true); // Tuesday early: Monday's window
    expect(windowAt(s, t('2026-12-08T22:30:00Z'), 0).open).toBe(false); // Tuesday's own evening: not listed
    expect(show(windowAt(s, t('2026-12-08T02:00:00Z'), 0).window)).toBe('2026-12-14T22:00:00.000Z..2026-12-15T02:00:00.000Z');
  });

  it('a window across midnight survives the DST night it spans', () => {
    const s = schedule({ kind: 'daily', window: { start: '23:00', end: '05:00' }, timezone: 'Europe/Berlin' });
    expect(windowsBetween(s, t('2026-03-28T12:00:00Z'), t('2026-03-29T12:00:00Z'))).toEqual([
      '2026-03-28T22:00:00.000Z..2026-03-29T03:00:00.000Z', // 23:00 CET .. 05:00 CEST: 5 h
    ]);
    expect(windowsBetween(s, t('2026-10-24T12:00:00Z'), t('2026-10-25T12:00:00Z'))).toEqual([
      '2026-10-24T21:00:00.000Z..2026-10-25T04:00:00.000Z', // 23:00 CEST .. 05:00 CET: 7 h
    ]);
  });

  it('monthly day 31 means the last day of shorter months', () => {
    const s = schedule({ kind: 'monthly', days: [31], window: { start: '03:00', end: '04:00' }, timezone: 'UTC' });
    expect(windowsBetween(s, t('2026-01-01T00:00:00Z'), t('2026-05-01T00:00:00Z'))).toEqual([
      '2026-01-31T03:00:00.000Z..2026-01-31T04:00:00.000Z',
      '2026-02-28T03:00:00.000Z..2026-02-28T04:00:00.000Z',
      '2026-03-31T03:00:00.000Z..2026-03-31T04:00:00.000Z',
      '2026-04-30T03:00:00.000Z..2026-04-30T04:00:00.000Z',
    ]);
    // Day 30 and 31 together on a 30-day month: one window, not two.
    const both = schedule({ kind: 'monthly', days: [30, 31], window: { start: '03:00', end: '04:00' }, timezone: 'UTC' });
    expect(windowsBetween(both, t('2026-04-01T00:00:00Z'), t('2026-05-01T00:00:00Z'))).toHaveLength(1);
  });

  it('notBefore in the future: nothing opens before it, and a window it falls into opens at it', () => {
    const s = schedule({ ...nightly, notBefore: '2026-12-13T01:30:00Z' });
    const st = windowAt(s, t('2026-12-08T01:30:00Z'), 0);
    expect(st.open).toBe(false);
    expect(show(st.window)).toBe('2026-12-13T01:30:00.000Z..2026-12-13T03:00:00.000Z');
  });

  it('notAfter ends the schedule: no window after it, a window it cuts closes at it', () => {
    const s = schedule({ ...nightly, notAfter: '2026-12-09T02:00:00Z' });
    expect(show(windowAt(s, t('2026-12-08T12:00:00Z'), 0).window)).toBe('2026-12-09T01:00:00.000Z..2026-12-09T02:00:00.000Z');
    expect(windowAt(s, t('2026-12-09T02:00:00Z'), 0)).toEqual({ open: false, window: null });
  });

  it('once: the first window after submission (or notBefore), then none', () => {
    const s = schedule({ kind: 'once', window: { start: '02:00', end: '04:00' }, timezone: 'UTC' });
    const anchor = t('2026-12-07T15:00:00Z');
    expect(show(windowAt(s, anchor, anchor).window)).toBe('2026-12-08T02:00:00.000Z..2026-12-08T04:00:00.000Z');
    expect(windowAt(s, t('2026-12-08T03:00:00Z'), anchor).open).toBe(true);
    expect(windowAt(s, t('2026-12-08T04:00:00Z'), anchor)).toEqual({ open: false, window: null });
  });

  it('once without a window is open from submission (or notBefore) until notAfter', () => {
    const anchor = t('2026-12-07T15:00:00Z');
    expect(windowAt(schedule({ kind: 'once' }), anchor, anchor).open).toBe(true);
    const later = schedule({ kind: 'once', notBefore: '2026-12-07T16:00:00Z', notAfter: '2026-12-07T18:00:00Z' });
    expect(windowAt(later, anchor, anchor).open).toBe(false);
    expect(windowAt(later, t('2026-12-07T17:00:00Z'), anchor).open).toBe(true);
    expect(windowAt(later, t('2026-12-07T18:00:00Z'), anchor).window).toBeNull();
  });

  it('no window means the whole listed day', () => {
    const s = schedule({ kind: 'weekly', days: ['sat', 'sun'], timezone: 'Europe/Berlin' });
    // Saturday 2026-12-12 00:00 CET is 2026-12-11T23:00Z; the weekend is one open stretch split at midnight.
    expect(windowsBetween(s, t('2026-12-08T00:00:00Z'), t('2026-12-14T00:00:00Z'))).toEqual([
      '2026-12-11T23:00:00.000Z..2026-12-12T23:00:00.000Z',
      '2026-12-12T23:00:00.000Z..2026-12-13T23:00:00.000Z',
    ]);
  });
});

describe('policy validation', () => {
  it('fills the protocol defaults', () => {
    const p = policySchema.parse({ schedule: { kind: 'once' } });
    expect(p).toMatchObject({ idleMinutes: 30, maxConcurrent: 50, rebootPrompt: false });
  });

  it('names the field that is wrong', () => {
    const bad = (policy: unknown) => {
      const r = policySchema.safeParse(policy);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(bad({ schedule: { kind: 'weekly' } })).toEqual(['schedule.days: a weekly schedule needs days (mon…sun)']);
    expect(bad({ schedule: { kind: 'monthly', days: ['mon'] } }).join()).toContain('schedule.days');
    expect(bad({ schedule: { kind: 'daily', timezone: 'Mars/Olympus' } }).join()).toContain('IANA time zone');
    expect(bad({ schedule: { kind: 'daily', window: { start: '25:00', end: '04:00' } } }).join()).toContain('schedule.window.start');
    expect(bad({ schedule: { kind: 'once' }, maxConcurrent: 0 }).join()).toContain('maxConcurrent');
    expect(bad({ schedule: { kind: 'once' }, ramp: { startPerMinute: 5, factor: 9, everySucceeded: 20 } }).join()).toContain('ramp.factor');
    expect(bad({ schedule: { kind: 'once', notBefore: '2026-12-13T00:00:00Z', notAfter: '2026-12-12T00:00:00Z' } }).join()).toContain('notAfter');
  });
});
