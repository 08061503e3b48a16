import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { timeouts } from '../../core/timeouts.js';
import { DeviceError } from '../errors.js';
import type { ContactMeLedger } from '../vendor.js';

/**
 * The contact-me: a plain-HTTP form POST that asks an OpenStage phone to open an interaction
 * with the DLS (device-protocols §4). The DLS address in it is the local address of this very
 * connection when the listener is bound to every interface: that address is one the phone
 * demonstrably reaches.
 */

/** The phones' web server is known to fall over under faster retries (GS3's check-cfg notes). */
export const CONTACT_ME_INTERVAL_MS = timeouts.openstageContactMe.ms;

/** The contact-me ledger of one process (tests, or a relay without a store): forgotten on restart. */
export class MemoryContactMeLedger implements ContactMeLedger {
  private readonly sent = new Map<string, number>();

  last(ip: string): number | undefined {
    return this.sent.get(ip);
  }

  record(ip: string, at: number): void {
    this.sent.set(ip, at);
  }

  forget(ip: string, at: number): void {
    if (this.sent.get(ip) === at) this.sent.delete(ip);
  }

  prune(before: number): number {
    let n = 0;
    for (const [ip, at] of this.sent)
      if (at < before) {
        this.sent.delete(ip);
        n++;
      }
    return n;
  }
}

/**
 * How long until the phone may be sent another contact-me (0: now). A last one dated in the
 * future (the wall clock was stepped back) counts as sent just now, never as a longer wait.
 */
export function contactMeWait(last: number | undefined, now: number, intervalMs: number): number {
  if (last === undefined) return 0;
  return Math.max(0, Math.min(intervalMs, last + intervalMs - now));
}

export const CONTACT_ME_PATH = '/contact_dls.html/ContactDLS';

export interface ContactMeRequest {
  readonly ip: string;
  readonly port: number;
  /** The DLS listener: its host ('0.0.0.0'/'::' means "the address this connection leaves from") and port. */
  readonly dls: { readonly host: string; readonly port: number };
  readonly timeoutMs: number;
}

const unspecified = (h: string): boolean => h === '0.0.0.0' || h === '::' || h === '';

export function sendContactMe(r: ContactMeRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err?: DeviceError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => {
      sock.destroy();
      done(new DeviceError(connected ? 'TIMEOUT' : 'CONNECT_FAILED', `contact-me to ${r.ip}:${r.port} got no answer within ${r.timeoutMs} ms`, { reached: connected }));
    }, r.timeoutMs);
    let connected = false;
    const sock: Socket = connect({ host: r.ip, port: r.port });
    sock.once('error', (err: NodeJS.ErrnoException) =>
      done(
        new DeviceError(connected ? 'CONNECTION_LOST' : 'CONNECT_FAILED', `contact-me to ${r.ip}:${r.port} failed: ${err.code ?? err.message}`, { reached: connected, cause: err }),
      ),
    );
    sock.once('connect', () => {
      connected = true;
      const host = unspecified(r.dls.host) ? (sock.localAddress ?? '').replace(/^::ffff:/, '') : r.dls.host;
      const body = new URLSearchParams({ ContactMe: 'true', dls_ip_addr: host, dls_ip_port: String(r.dls.port) }).toString();
      const req = request(
        {
          host: r.ip,
          port: r.port,
          method: 'POST',
          path: CONTACT_ME_PATH,
          createConnection: () => sock,
          headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' },
        },
        (res) => {
          res.resume();
          res.once('end', () => sock.destroy());
          if (res.statusCode === 204 || res.statusCode === 200) done();
          else
            done(
              new DeviceError('PHONE_ERROR', `contact-me to ${r.ip}:${r.port} answered HTTP ${res.statusCode ?? 0} (expected 204 from the phone's DlsClient)`, { reached: true }),
            );
        },
      );
      req.once('error', (err: NodeJS.ErrnoException) =>
        done(new DeviceError('CONNECTION_LOST', `contact-me to ${r.ip}:${r.port} failed: ${err.code ?? err.message}`, { reached: true, cause: err })),
      );
      req.end(body);
    });
  });
}
