import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

/**
 * CAs trusted for every DMS host (API, provisioning, images): the system set plus the
 * optional extra file. Verification is never turned off (PROTOCOL: TLS to the DMS is always verified).
 */
export function dmsTrustedCa(extraCaFile: string | undefined): string[] | undefined {
  if (!extraCaFile) return undefined;
  return [...rootCertificates, readFileSync(extraCaFile, 'utf8')];
}
