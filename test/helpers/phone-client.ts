import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as netConnect } from 'node:net';
import { connect, type ConnectionOptions } from 'node:tls';
import { Client } from 'undici';
import { createCa, issueCert, toPfx, type KeyedCert } from '../../sim/pki.js';

export const RELAY_FQDN = 'relay.test.example';
export const PFX_PASS = 'pfx-pass';

export interface RelayPki {
  readonly root: KeyedCert;
  readonly inter: KeyedCert;
  readonly leaf: KeyedCert;
  readonly pfxFile: string;
}

/** A private root + intermediate and a relay PFX for RELAY_FQDN, written into `dir`. */
export function relayPki(dir: string, root = createCa('phone-https test root')): RelayPki {
  const inter = createCa('phone-https test issuing CA', root);
  const leaf = issueCert({ cn: RELAY_FQDN, dnsNames: [RELAY_FQDN], issuer: inter });
  const pfxFile = join(dir, 'relay.pfx');
  writeFileSync(pfxFile, toPfx(leaf, [inter, root], PFX_PASS));
  return { root, inter, leaf, pfxFile };
}

/** A phone's HTTPS client to the relay, from its own loopback address. */
export function phoneClient(port: number, caPem: string, localAddress = '127.20.0.5'): Client {
  return new Client(`https://127.0.0.1:${port}`, { connect: { ca: caPem, servername: RELAY_FQDN }, localAddress, pipelining: 1 });
}

/**
 * Sends raw bytes over TLS and returns everything the server answers until it closes
 * (or `untilMs` passes): for requests no well-behaved client library would send.
 */
export function rawExchange(port: number, caPem: string, request: string | Buffer, opts: { localAddress?: string; untilMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    // tls.connect hands localAddress to net.connect; @types/node 20 just doesn't declare it.
    const tlsOpts: ConnectionOptions & { localAddress: string } = { host: '127.0.0.1', port, ca: caPem, servername: RELAY_FQDN, localAddress: opts.localAddress ?? '127.20.0.9' };
    const sock = connect(tlsOpts);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => sock.destroy(), opts.untilMs ?? 5_000);
    sock.on('secureConnect', () => sock.write(request));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      if (chunks.length > 0) resolve(Buffer.concat(chunks).toString('latin1'));
      else reject(err);
    });
  });
}

export function basicAuth(user = 'PlcmSpIp', password = 'PlcmSpIp'): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/**
 * A phone's HTTPS client reaching the relay through a PROXY-protocol balancer stand-in:
 * each connection comes from `balancerAddress` and starts with `header(phone)` before TLS.
 */
export function proxiedPhoneClient(port: number, caPem: string, header: Buffer, balancerAddress = '127.0.0.1', opts: { coalesce?: boolean } = {}): Client {
  return new Client(`https://127.0.0.1:${port}`, {
    pipelining: 1,
    connect: (_opts, callback) => {
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        callback(err, null);
      };
      const raw = netConnect({ host: '127.0.0.1', port, localAddress: balancerAddress }, () => {
        // coalesce: the header and the ClientHello leave in one segment, as balancers often send them.
        if (opts.coalesce) raw.cork();
        raw.write(header);
        if (opts.coalesce) setImmediate(() => raw.uncork());
        const tls = connect({ socket: raw, ca: caPem, servername: RELAY_FQDN }, () => {
          if (settled) return;
          settled = true;
          callback(null, tls);
        });
        tls.once('error', fail);
      });
      raw.once('error', fail);
    },
  });
}
