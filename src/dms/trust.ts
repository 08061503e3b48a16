import { readFileSync } from 'node:fs';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { ConfigError, errorMessage } from '../errors.js';

/**
 * The one trust store for every DMS host (API, control channel, images, uploads,
 * provisioning): the system CAs plus the optional extra file, read once per process.
 * Verification is never turned off (PROTOCOL: TLS to the DMS is always verified).
 */
export interface DmsTrust {
  /** The CA list (system roots + the extra file), or undefined for the system roots alone. */
  readonly ca: readonly string[] | undefined;
  /**
   * The TLS context built from it, shared by every DMS connection: `ca` in connect options
   * would build a fresh context per connection, parsing the ~140 system roots each time
   * (~25–50 ms of CPU on this class of machine).
   */
  readonly secureContext: SecureContext;
}

/** The system roots plus `extraCaFile`; a missing or non-PEM file is a config error naming `dmsCaFile`. */
export function dmsTrustedCa(extraCaFile: string | undefined): string[] | undefined {
  if (!extraCaFile) return undefined;
  let pem: string;
  try {
    pem = readFileSync(extraCaFile, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: 'dmsCaFile', message: `cannot read ${extraCaFile}: ${errorMessage(err)}` }]);
  }
  // Otherwise a wrong file surfaces only as an opaque TLS error on the first DMS connection.
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new ConfigError([{ path: 'dmsCaFile', message: `${extraCaFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)` }]);
  return [...rootCertificates, pem];
}

/** Reads `dmsCaFile` (once) and builds the shared TLS context. */
export function loadDmsTrust(extraCaFile: string | undefined): DmsTrust {
  const ca = dmsTrustedCa(extraCaFile);
  return { ca, secureContext: ca ? createSecureContext({ ca: [...ca] }) : createSecureContext({}) };
}
