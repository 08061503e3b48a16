import { readFileSync } from 'node:fs';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { ConfigError, errorMessage } from '../errors.js';

/**
 * CAs trusted for every DMS host (API, provisioning, images): the system set plus the
 * optional extra file. Verification is never turned off (PROTOCOL: TLS to the DMS is always verified).
 */
export function dmsTrustedCa(extraCaFile: string | undefined): string[] | undefined {
  if (!extraCaFile) return undefined;
  let pem: string;
  try {
    pem = readFileSync(extraCaFile, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: 'dmsCaFile', message: `cannot read ${extraCaFile}: ${errorMessage(err)}` }]);
  }
  // Otherwise a wrong file surfaces only as an opaque TLS error on the first DMS connection.
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError([{ path: 'dmsCaFile', message: `${extraCaFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)` }]);
  return [...rootCertificates, pem];
}

const contexts = new Map<string, SecureContext>();

/**
 * The TLS context for a CA list from dmsTrustedCa, built once per process and shared by
 * every DMS client (API, control channel, images, provisioning). `ca` in connect options
 * would build a fresh one for every connection, parsing the ~140 system roots each time
 * (~25–50 ms of CPU per context on this class of machine).
 */
export function dmsSecureContext(ca: readonly string[]): SecureContext {
  // The system roots are the same for every list; the extra CA (last) tells them apart.
  const key = `${ca.length}:${ca[ca.length - 1] ?? ''}`;
  let context = contexts.get(key);
  if (!context) {
    context = createSecureContext({ ca: [...ca] });
    contexts.set(key, context);
  }
  return context;
}
