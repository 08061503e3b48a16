import { readFileSync } from 'node:fs';
import { createSecureContext, type TLSSocket } from 'node:tls';
import type { buildConnector as Connector } from 'undici';
import { buildConnector } from '../core/undici.js';
import { DeviceError } from './errors.js';

export type TlsPolicy = 'pin-on-first-use' | 'verify' | 'insecure';

/** Remembered phone certificates (pin-on-first-use). `check` pins on first sight. */
export interface PinStore {
  /** Returns the pinned fingerprint if it differs from `fingerprint` (after pinning a first one). */
  check(origin: string, fingerprint: string): { ok: true } | { ok: false; pinned: string };
}

/**
 * Builds the TLS connector for phone connections. Phones present self-signed certificates
 * naming their MAC, not their IP, so `verify` checks the chain against the CA file but not the
 * host name; `pin-on-first-use` remembers each phone's certificate and refuses a change until
 * an admin clears the pin; `insecure` checks nothing and exists only for explicit opt-in.
 */
export function phoneConnector(opts: { policy: TlsPolicy; caFile?: string | undefined; timeoutMs: number; pins: PinStore }): Connector.connector {
  const ca = opts.policy === 'verify' && opts.caFile ? readFileSync(opts.caFile, 'utf8') : undefined;
  if (opts.policy === 'verify' && !ca) throw new DeviceError('TLS_UNTRUSTED', 'devices.tlsPolicy=verify needs devices.caFile', { reached: false });
  // One context for every phone: building one per connection costs more than the handshake's own crypto.
  const secureContext = createSecureContext(ca ? { ca } : {});
  const base = buildConnector({
    rejectUnauthorized: opts.policy === 'verify',
    secureContext,
    checkServerIdentity: () => undefined,
    timeout: opts.timeoutMs,
    // A resumed session carries no fresh certificate to compare; pinning needs a full handshake.
    maxCachedSessions: opts.policy === 'pin-on-first-use' ? 0 : 100,
  });
  return (connectOpts, callback) => {
    base(connectOpts, (err, socket) => {
      if (err || !socket) {
        callback(err ?? new Error('connect failed'), null);
        return;
      }
      if (opts.policy === 'pin-on-first-use') {
        const fp = (socket as TLSSocket).getPeerX509Certificate?.()?.fingerprint256;
        const origin = `${connectOpts.hostname}:${connectOpts.port || '443'}`;
        const verdict = fp ? opts.pins.check(origin, fp) : { ok: false as const, pinned: '(none presented)' };
        if (!verdict.ok) {
          socket.destroy();
          callback(
            new DeviceError(
              'TLS_PIN_MISMATCH',
              `certificate of ${origin} changed since it was pinned (pinned ${verdict.pinned.slice(0, 23)}…, now ${String(fp).slice(0, 23)}…); if the phone was replaced, clear the pin with \`cloud-relay devices clear-pin ${origin}\``,
              { reached: false },
            ),
            null,
          );
          return;
        }
      }
      callback(null, socket);
    });
  };
}
