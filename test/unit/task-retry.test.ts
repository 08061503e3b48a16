import { describe, expect, it } from 'vitest';
import { retryDelay, DEFAULT_RETRY } from '../../src/device-work/retry.js';
import { DeviceError } from '../../src/devices/errors.js';
import { SiteSubnets } from '../../src/device-work/site.js';
import { fileStem } from '../../src/device-work/executor.js';

const err = (code: ConstructorParameters<typeof DeviceError>[0], reached: boolean, retryAfterMs?: number) =>
  new DeviceError(code, code, { reached, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });

describe('retry classification', () => {
  it('retries what never reached the phone, whatever the command', () => {
    for (const kind of ['reboot', 'reset', 'dial', 'getParams'] as const) expect(retryDelay(err('CONNECT_FAILED', false), kind, 1, DEFAULT_RETRY)).toBeGreaterThan(0);
  });

  it('never resends reboot, reset or dial that may have reached the phone; reads are retried', () => {
    for (const code of ['TIMEOUT', 'CONNECTION_LOST', 'HTTP_ERROR'] as const) {
      for (const kind of ['reboot', 'reset', 'dial', 'setParams', 'pcapStart'] as const) expect(retryDelay(err(code, true), kind, 1, DEFAULT_RETRY)).toBeUndefined();
      expect(retryDelay(err(code, true), 'getParams', 1, DEFAULT_RETRY)).toBeGreaterThan(0);
    }
  });

  it('auth, trust, disabled API and unsupported endpoints are final', () => {
    for (const code of ['AUTH_FAILED', 'TLS_PIN_MISMATCH', 'TLS_UNTRUSTED', 'API_DISABLED', 'NOT_SUPPORTED', 'PHONE_ERROR'] as const) {
      expect(retryDelay(err(code, false), 'getParams', 1, DEFAULT_RETRY)).toBeUndefined();
    }
  });

  it('a busy phone is retried after its Retry-After, and attempts are bounded', () => {
    expect(retryDelay(err('BUSY', true, 7_000), 'reboot', 1, DEFAULT_RETRY)).toBe(7_000);
    expect(retryDelay(err('BUSY', true, 7_000), 'reboot', DEFAULT_RETRY.attempts, DEFAULT_RETRY)).toBeUndefined();
  });
});

describe('site subnets and file names', () => {
  it('matches IPv4 and IPv6 ranges and reports what is not a range', () => {
    const s = new SiteSubnets(['10.1.0.0/16', 'fd00::/8', '192.0.2.7', 'nonsense', '10.0.0.0/40']);
    expect(s.contains('10.1.200.3')).toBe(true);
    expect(s.contains('10.2.0.1')).toBe(false);
    expect(s.contains('fd12::1')).toBe(true);
    expect(s.contains('192.0.2.7')).toBe(true);
    expect(s.invalid).toEqual(['nonsense', '10.0.0.0/40']);
  });

  it('names captures {mac}_{yyyy.mm.dd_hhmmss} in UTC', () => {
    expect(fileStem('00:04:F2:AB:CD:EF', Date.UTC(2026, 0, 2, 3, 4, 5))).toBe('0004f2abcdef_2026.01.02_030405');
  });
});
