import { RelayError, type Catalogued } from '../errors.js';

/** The PFX cannot be opened at all (as opposed to opened but not acceptable). */
export class PfxLoadError extends RelayError {}

/** A certificate was refused; `problems` lists every reason, each with its own code. */
export class CertificateRejected extends RelayError {
  constructor(readonly problems: readonly CertProblem[]) {
    super('CERT_INVALID', `the certificate was refused:\n${problems.map((p) => `  - [${p.code}] ${p.message}`).join('\n')}`);
  }
}

export interface CertProblem {
  readonly code: CertProblemCode;
  readonly message: string;
}

export type CertProblemCode = Catalogued<
  | 'PFX_WRONG_PASSPHRASE'
  | 'PFX_CORRUPT'
  | 'PFX_IS_PEM'
  | 'PFX_FILE_NOT_FOUND'
  | 'PFX_FILE_UNREADABLE'
  | 'PFX_NO_CERTIFICATE'
  | 'PFX_NO_KEY'
  | 'PFX_SEVERAL_KEYS'
  | 'KEY_MISMATCH'
  | 'KEY_TOO_WEAK'
  | 'KEY_TYPE_UNSUPPORTED'
  | 'CHAIN_INCOMPLETE'
  | 'CHAIN_ORDER'
  | 'CHAIN_BROKEN'
  | 'CHAIN_CERT_EXPIRED'
  | 'CERT_SELF_SIGNED'
  | 'EKU_NO_SERVER_AUTH'
  | 'FQDN_MISMATCH'
  | 'IP_IDENTITY'
  | 'CERT_NOT_YET_VALID'
  | 'CERT_EXPIRED'
>;
