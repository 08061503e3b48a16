import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay, retryPolicyDelay } from '../../src/core/backoff.js';
import { parseRetryAfter } from '../../src/management-agent/registration.js';
import { clockSkewFromServerTime, clockSkewFromTlsError } from '../../src/management-agent/clock-skew.js';

describe('reconnect and retry pacing', () => {
  it('full jitter waits in [0, min(cap, base·2^n)] and starts over after reset', () => {
    const top = new Backoff(1_000, 60_000, 'full', () => 0.999999);
    const ceilings = Array.from({ length: 9 }, () => top.next());
    expect(ceilings).toEqual([999, 1_999, 3_999, 7_999, 15_999, 31_999, 59_999, 59_999, 59_999]);
    top.reset();
    expect(top.next()).toBe(999);
    const bottom = new Backoff(1_000, 60_000, 'full', () => 0);
    expect(bottom.next()).toBe(0);
  });

  it('the 401 retry doubles from 30 s to 15 min with jitter, never below half the step', () => {
    const low = new Backoff(30_000, 900_000, 'equal', () => 0);
    expect(Array.from({ length: 7 }, () => low.next())).toEqual([15_000, 30_000, 60_000, 120_000, 240_000, 450_000, 450_000]);
    const high = new Backoff(30_000, 900_000, 'equal', () => 0.999999);
    expect(high.next()).toBe(29_999);
  });

  it('one doubling rule for every caller: a policy retry after attempt n waits about base·2^(n-1), capped', () => {
    const policy = { attempts: 5, baseDelayMs: 1_000, maxDelayMs: 5_000 };
    expect([1, 2, 3, 4].map((n) => retryPolicyDelay(policy, n, 'none'))).toEqual([1_000, 2_000, 4_000, 5_000]);
    expect([1, 2, 3].map((n) => retryPolicyDelay(policy, n, 'equal', () => 0))).toEqual([500, 1_000, 2_000]);
    expect(backoffDelay(40, 30_000, 900_000, 'none')).toBe(900_000);
  });

  it('Retry-After in seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });

  it('clock skew: serverTime beyond the tolerance, and TLS "not yet valid" anywhere in the cause chain', () => {
    const now = Date.parse('2026-01-01T00:10:00Z');
    expect(clockSkewFromServerTime('2026-01-01T00:09:00Z', now, 300_000)).toBeUndefined();
    const ahead = clockSkewFromServerTime('2026-01-01T00:00:00Z', now, 300_000);
    expect(ahead?.code).toBe('CLOCK_SKEW');
    expect(ahead?.message).toMatch(/600 s ahead of the DMS/);
    const tls = Object.assign(new Error('certificate is not yet valid'), { code: 'CERT_NOT_YET_VALID' });
    expect(clockSkewFromTlsError(new Error('fetch failed', { cause: tls }), now)?.code).toBe('CLOCK_SKEW');
    expect(clockSkewFromTlsError(new Error('ECONNREFUSED'), now)).toBeUndefined();
  });
});
