import { describe, expect, it } from 'vitest';
import { freeSlots, idleSince, nextStartAt, ratePerMinute, shouldAbort } from '../../src/device-work/rollouts/pacing.js';

describe('rollout pacing', () => {
  it('no rate settings: only maxConcurrent bounds the starts', () => {
    expect(ratePerMinute({}, 0)).toBeNull();
    expect(nextStartAt(1_000, null, 1_000)).toBe(1_000);
    expect(freeSlots(20, 17)).toBe(3);
    expect(freeSlots(20, 25)).toBe(0);
  });

  it('maxPerMinute spaces starts evenly instead of bursting at the window start', () => {
    expect(ratePerMinute({ maxPerMinute: 100 }, 0)).toBe(100);
    expect(nextStartAt(null, 100, 5_000)).toBe(5_000);
    expect(nextStartAt(5_000, 100, 5_000)).toBe(5_600);
    expect(nextStartAt(5_000, 100, 9_000)).toBe(9_000);
    // 100 per minute: the 101st start is a minute after the first.
    let last: number | null = null;
    let now = 0;
    for (let i = 0; i < 101; i++) {
      now = nextStartAt(last, 100, now);
      last = now;
    }
    expect(now).toBeCloseTo(60_000, 6);
  });

  it('a ramp multiplies the rate after every N successes, capped by maxPerMinute', () => {
    const policy = { maxPerMinute: 100, ramp: { startPerMinute: 5, factor: 2, everySucceeded: 20 } };
    expect(ratePerMinute(policy, 0)).toBe(5);
    expect(ratePerMinute(policy, 19)).toBe(5);
    expect(ratePerMinute(policy, 20)).toBe(10);
    expect(ratePerMinute(policy, 40)).toBe(20);
    expect(ratePerMinute(policy, 80)).toBe(80);
    expect(ratePerMinute(policy, 100)).toBe(100);
    expect(ratePerMinute(policy, 1e9)).toBe(100);
    expect(ratePerMinute({ ramp: { startPerMinute: 1, factor: 1.5, everySucceeded: 1 } }, 4)).toBeCloseTo(5.0625, 6);
  });

  it('abort: only after minDevices have finished, at or above the failure percentage', () => {
    const rule = { failurePercent: 20, minDevices: 10 };
    expect(shouldAbort(rule, { finished: 9, failed: 9 })).toBe(false);
    expect(shouldAbort(rule, { finished: 10, failed: 1 })).toBe(false);
    expect(shouldAbort(rule, { finished: 10, failed: 2 })).toBe(true);
    expect(shouldAbort(rule, { finished: 200, failed: 39 })).toBe(false);
    expect(shouldAbort(rule, { finished: 200, failed: 40 })).toBe(true);
    expect(shouldAbort(null, { finished: 200, failed: 200 })).toBe(false);
  });

  it('idle: a phone in a call waits; after a call it waits idleMinutes from the call', () => {
    const min = 60_000;
    expect(idleSince({ inCall: true, lastCallAt: null }, 30, 0)).toEqual({ eligible: false, eligibleAt: null });
    expect(idleSince({ inCall: false, lastCallAt: null }, 30, 5)).toEqual({ eligible: true, eligibleAt: 5 });
    expect(idleSince({ inCall: false, lastCallAt: 0 }, 30, 10 * min)).toEqual({ eligible: false, eligibleAt: 30 * min });
    expect(idleSince({ inCall: false, lastCallAt: 0 }, 30, 30 * min)).toEqual({ eligible: true, eligibleAt: 30 * min });
    expect(idleSince({ inCall: false, lastCallAt: 0 }, 0, 1)).toEqual({ eligible: true, eligibleAt: 1 });
  });
});
