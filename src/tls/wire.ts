import type { Clock } from '../core/clock.js';
import type { Component } from '../core/lifecycle.js';
import type { PartWiring } from '../core/part.js';
import { FrameRefused } from '../core/ports.js';
import type { RelayConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { errorMessage, RelayError } from '../errors.js';
import { CertificateManager, type PassphraseSealer } from './certificate-manager.js';

export interface PhoneCertificateWiring extends PartWiring<'cert', { 'cert.install': (frame: { readonly pfx: string; readonly passphrase: string }) => void }> {
  readonly certs: CertificateManager;
  /** Settles once the certificate is loaded or could not be (the component's start then fails). */
  readonly loaded: Promise<void>;
}

/**
 * The phone-facing certificate: a configured or installed PFX, else a self-signed stand-in
 * generated on first start; `cert.install` from the DMS; status `cert` and readiness.
 */
export function wirePhoneCertificate(o: { config: RelayConfig; log: Logger; clock: Clock; sealer?: PassphraseSealer }): PhoneCertificateWiring {
  const cfg = o.config;
  const log = o.log.child({ part: 'phone-https' });
  const certs = new CertificateManager({ fqdn: cfg.fqdn, dataDir: cfg.dataDir, pfxFile: cfg.pfxFile, pfxPassphrase: cfg.pfxPassphrase, log, clock: o.clock, sealer: o.sealer });
  // Loading starts now rather than in start(): generating a stand-in takes a while (seconds
  // on a busy host) and runs alongside registration instead of before it.
  const failure = certs.init().then(
    () => undefined,
    (err: unknown) => err,
  );
  const component: Component = {
    name: 'phone-certificate',
    async start() {
      const failed = await failure;
      if (failed) throw failed;
      certs.startWatching();
    },
    stop: () => certs.stop(),
  };
  return {
    certs,
    loaded: failure.then(() => undefined),
    components: [component],
    phoneRoutes: [],
    handlers: {
      'cert.install': (frame) => {
        try {
          certs.install(Buffer.from(frame.pfx, 'base64'), frame.passphrase, 'dms');
        } catch (err) {
          log.error({ code: err instanceof RelayError ? err.code : 'CERT_UNUSABLE', err: errorMessage(err) }, 'cert.install from the DMS refused; the previous certificate stays');
          throw new FrameRefused(errorMessage(err));
        }
      },
    },
    status: { cert: () => (certs.loaded ? certs.status() : { valid: false, reason: 'the phone-facing certificate is not loaded yet' }) },
    readiness: [{ name: 'phone-cert', check: () => (certs.loaded ? certs.readiness() : { ok: false, detail: 'phone-facing certificate not loaded yet' }) }],
    adminViews: {},
  };
}
