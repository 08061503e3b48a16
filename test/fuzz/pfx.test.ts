import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createCa, issueCert, toPfx } from '../../sim/pki.js';
import { readPfx } from '../../src/tls/pfx.js';
import { prepare } from '../../src/tls/certificate-manager.js';
import { RelayError } from '../../src/errors.js';
import { fuzzParams, fuzzTimeout } from './budget.js';

/**
 * Damaged PFX bytes (a DMS cert.install, an admin's file) into the real loader and the
 * install check: every outcome is a certificate or a RelayError with a catalogued code,
 * never a raw exception from node-forge or OpenSSL, and never a hang.
 */
const PFX_CODES = /^(PFX_[A-Z_]+|CERT_[A-Z_]+)$/;
const PASS = 'fuzz-pass';
const ca = createCa('fuzz root');
const leaf = issueCert({ cn: 'relay.fuzz.example', issuer: ca, dnsNames: ['relay.fuzz.example'] });
const pfx = toPfx(leaf, [ca], PASS);
const legacy = toPfx(leaf, [ca], PASS, '3des');

const damaged = fc.oneof(
  // truncated anywhere
  fc.tuple(fc.constantFrom(pfx, legacy), fc.nat()).map(([b, n]) => b.subarray(0, n % b.length)),
  // 1–8 bit flips
  fc.tuple(fc.constantFrom(pfx, legacy), fc.array(fc.tuple(fc.nat(), fc.nat(7)), { minLength: 1, maxLength: 8 })).map(([b, flips]) => {
    const c = Buffer.from(b);
    for (const [at, bit] of flips) c[at % c.length]! ^= 1 << bit;
    return c;
  }),
  // a run of bytes overwritten
  fc.tuple(fc.constantFrom(pfx, legacy), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([b, at, junk]) => {
    const c = Buffer.from(b);
    c.set(junk.subarray(0, Math.max(0, c.length - (at % c.length))), at % c.length);
    return c;
  }),
  // no PFX at all
  fc.uint8Array({ maxLength: 4096 }).map((a) => Buffer.from(a)),
);

function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (!(err instanceof RelayError)) throw new Error(`not a RelayError: ${String(err)}`, { cause: err });
    return err.code;
  }
}

describe('fuzz: PFX bytes into the loader', () => {
  it(
    'truncated, bit-flipped, overwritten or random bytes: a certificate or a catalogued PFX_/CERT_ code',
    () => {
      expect(outcome(() => readPfx(pfx, PASS))).toBe('ok');
      fc.assert(
        fc.property(damaged, fc.constantFrom(PASS, '', 'wrong'), (bytes, pass) => {
          expect(outcome(() => readPfx(bytes, pass))).toMatch(/^ok$|^PFX_[A-Z_]+$/);
          expect(outcome(() => prepare(bytes, pass, 'relay.fuzz.example', Date.now()))).toMatch(new RegExp(`^ok$|${PFX_CODES.source}`));
        }),
        fuzzParams(60),
      );
    },
    fuzzTimeout(60, 300),
  );
});
