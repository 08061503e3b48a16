import type { AddressInfo } from 'node:net';
import type { Clock } from '../core/clock.js';
import type { Component, Draining } from '../core/lifecycle.js';
import type { PartWiring } from '../core/part.js';
import type { PhoneRoute } from '../core/phone-route.js';
import { FrameRefused, type RegistrationSource } from '../core/ports.js';
import type { RelayConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import { errorMessage, RelayError } from '../errors.js';
import { IpGuardStore } from '../store/ip-guard.js';
import { CertificateManager } from '../tls/certificate-manager.js';
import { dmsTrustedCa } from '../tls/trust.js';
import { IpGuard } from './ip-guard.js';
import { PhoneServer } from './phone-server.js';
import { ProvisioningProxy } from './provisioning-proxy.js';

export interface PhoneHttpsWiring extends PartWiring<'cert' | 'ipGuard', { 'cert.install': (frame: { readonly pfx: string; readonly passphrase: string }) => void }> {
  /**
   * Loads the phone-facing certificate (a configured or installed PFX, else a self-signed
   * stand-in generated on first start). Its own component so the composition root can start
   * it before the management agent: the first heartbeat then already carries `cert`.
   */
  readonly certificate: Component;
  readonly certs: CertificateManager;
  readonly guard: IpGuard;
}

/**
 * The phone-facing HTTPS port: certificate manager (+ `cert.install`, status `cert`,
 * readiness), IP guard, provisioning pass-through and the server itself. `routes` are the
 * other parts' phone routes, tried in order before the pass-through.
 */
export function wirePhoneHttps(o: {
  config: RelayConfig;
  db: Db;
  log: Logger;
  clock: Clock;
  draining: Draining;
  registration: RegistrationSource;
  routes: readonly PhoneRoute[];
  onListening: (address: AddressInfo) => void;
}): PhoneHttpsWiring {
  const cfg = o.config;
  const log = o.log.child({ part: 'phone-https' });
  const certs = new CertificateManager({ fqdn: cfg.fqdn, dataDir: cfg.dataDir, pfxFile: cfg.pfxFile, pfxPassphrase: cfg.pfxPassphrase, log, clock: o.clock });
  const guard = new IpGuard(new IpGuardStore(o.db), cfg.ipGuard, o.clock, log);
  const proxy = new ProvisioningProxy(
    { upstreamTimeoutMs: cfg.proxy.upstreamTimeoutMs, upstreamConnections: cfg.proxy.upstreamConnections, maxUploadBytes: cfg.proxy.maxUploadBytes, ca: dmsTrustedCa(cfg.dmsCaFile) },
    guard,
    log,
  );
  let server: PhoneServer | undefined;
  // Loading starts now rather than in start(): a configured PFX loads synchronously, so the
  // certificate is there as early as possible (readiness, `/status`).
  const certsLoaded = certs.init().then(
    () => undefined,
    (err: unknown) => err,
  );

  const certificate: Component = {
    name: 'phone-certificate',
    async start() {
      const failed = await certsLoaded;
      if (failed) throw failed;
    },
    stop: () => certs.stop(),
  };
  const phoneServer: Component = {
    name: 'phone-https',
    async start() {
      guard.load();
      server = new PhoneServer({
        listen: cfg.httpsListen,
        headersTimeoutMs: cfg.proxy.headersTimeoutMs,
        requestTimeoutMs: cfg.proxy.requestTimeoutMs,
        maxUploadBytes: cfg.proxy.maxUploadBytes,
        certs,
        guard,
        proxy,
        routes: o.routes,
        registration: () => o.registration.current(),
        draining: o.draining,
        log,
      });
      o.onListening(await server.listen());
      certs.startWatching();
    },
    async drain(deadlineMs) {
      await server?.drain(deadlineMs);
    },
    async stop() {
      server?.stop();
      guard.stop();
      await proxy.destroy();
    },
  };

  return {
    certificate,
    certs,
    guard,
    components: [phoneServer],
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
    status: {
      cert: () => (certs.loaded ? certs.status() : { valid: false, reason: 'the phone-facing certificate is not loaded yet' }),
      ipGuard: () => guard.counts(),
    },
    readiness: [{ name: 'phone-cert', check: () => (certs.loaded ? certs.readiness() : { ok: false, detail: 'phone-facing certificate not loaded yet' }) }],
    adminViews: {},
  };
}
