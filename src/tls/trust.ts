import { readFileSync } from 'node:fs';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';

/**
 * CAs trusted for every DMS host (API, provisioning, images): the system set plus the
 * optional extra file. Verification is never turned off (PROTOCOL: TLS to the DMS is always verified).
 */
export function dmsTrustedCa(extraCaFile: string | undefined): string[] | undefined {
  if (!extraCaFile) return undefined;
  return [...rootCertificates, readFileSync(extraCaFile, 'utf8')];
}

const contexts = new WeakMap<readonly string[], SecureContext>();

/**
 * The TLS context for a CA list from dmsTrustedCa, built once per list. `ca` in connect
 * options would build a fresh one for every connection, parsing the ~140 system roots each
 * time (~20–30 ms of CPU per DMS connection, measured at start-up).
 */
export function dmsSecureContext(ca: readonly string[]): SecureContext {
  let context = contexts.get(ca);
  if (!context) {
    context = createSecureContext({ ca: [...ca] });
    contexts.set(ca, context);
  }
  return context;
}
