import { createCa, loopbackServerCert, type KeyedCert } from '../../sim/pki.js';

let cached: { ca: KeyedCert; serverCert: KeyedCert } | undefined;

/**
 * One DMS CA and loopback server certificate per test worker: RSA key generation is the
 * slowest part of starting a simulator, and nothing in these tests depends on fresh keys.
 */
export function sharedDmsPki(): { ca: KeyedCert; serverCert: KeyedCert } {
  if (!cached) {
    const ca = createCa('cloud-relay DMS simulator CA (tests)');
    cached = { ca, serverCert: loopbackServerCert(ca, 'localhost') };
  }
  return cached;
}
