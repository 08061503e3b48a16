import type { SecureContextOptions } from 'node:tls';
import { timeouts } from '../core/timeouts.js';

/**
 * TLS 1.2 as the floor (TLS 1.3 suites are all AEAD); for 1.2 only ECDHE with AES-GCM or
 * ChaCha20-Poly1305, so no CBC/RC4/3DES suite can be negotiated by an old phone or a probe.
 */
export const AEAD_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** Settings shared by the initial server context and every hot-swapped one. */
export function secureContextOptions(keyPem: string, chainPem: string): SecureContextOptions {
  return {
    key: keyPem,
    cert: chainPem,
    minVersion: 'TLSv1.2',
    ciphers: AEAD_CIPHERS,
    honorCipherOrder: true,
    // Resumption (tickets and session ids) saves phones a full handshake on each of the ~10 boot requests.
    sessionTimeout: timeouts.tlsSession.ms / 1000,
  };
}
