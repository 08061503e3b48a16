import type { Daemon } from '../daemon.js';
import type { RegistrationSource } from '../management-agent/ports.js';
import { FrameRefused } from '../management-agent/ports.js';
import { errorMessage, RelayError } from '../errors.js';
import { IpGuardStore } from '../store/ip-guard.js';
import { CertificateManager } from '../tls/certificate-manager.js';
import { CidrSet } from '../config/cidr.js';
import { IpGuard } from './ip-guard.js';
import { BLOCKED_ADDRESSES_SHOWN } from '../status.js';
import { PhoneServer } from './phone-server.js';
import { ProvisioningProxy } from './provisioning-proxy.js';

/**
 * Wires the phone-facing HTTPS port into the daemon: certificate manager (+ `cert.install`,
 * heartbeat `cert`, readiness), IP guard, provisioning pass-through and the server itself.
 */
export function wirePhoneHttps(daemon: Daemon): { certs: CertificateManager; guard: IpGuard } {
  const cfg = daemon.config;
  const log = daemon.log.child({ part: 'phone-https' });
  const certs = new CertificateManager({ fqdn: cfg.fqdn, dataDir: cfg.dataDir, pfxFile: cfg.pfxFile, pfxPassphrase: cfg.pfxPassphrase, log, clock: daemon.clock });
  const guard = new IpGuard(new IpGuardStore(daemon.store), cfg.ipGuard, daemon.clock, log);
  const proxy = new ProvisioningProxy(
    { upstreamTimeoutMs: cfg.proxy.upstreamTimeoutMs, upstreamConnections: cfg.proxy.upstreamConnections, maxUploadBytes: cfg.proxy.maxUploadBytes },
    daemon.dms,
    guard,
    log,
  );
  let server: PhoneServer | undefined;
  // Loading starts now rather than in start(): a configured PFX loads synchronously, so the
  // management agent's first heartbeat (sent as soon as it registers) already carries `cert`.
  const certsLoaded = certs.init().then(
    () => undefined,
    (err: unknown) => err,
  );

  daemon.inbound['cert.install'] = (frame) => {
    try {
      certs.install(Buffer.from(frame.pfx, 'base64'), frame.passphrase, 'dms');
    } catch (err) {
      log.error({ code: err instanceof RelayError ? err.code : 'CERT_UNUSABLE', err: errorMessage(err) }, 'cert.install from the DMS refused; the previous certificate stays');
      throw new FrameRefused(errorMessage(err));
    }
  };
  daemon.status.cert = () => (certs.loaded ? certs.status() : null);
  daemon.adminServer.addCheck({ name: 'phone-cert', check: () => (certs.loaded ? certs.readiness() : { ok: false, detail: 'phone-facing certificate not loaded yet' }) });
  daemon.status.ipGuard = () => guard.status(BLOCKED_ADDRESSES_SHOWN);

  daemon.add({
    name: 'phone-https',
    async start() {
      const failed = await certsLoaded;
      if (failed) throw failed;
      guard.load();
      server = new PhoneServer({
        listen: cfg.httpsListen,
        ...(cfg.lb.proxyProtocol ? { proxyProtocol: { trusted: new CidrSet(cfg.lb.trustedProxies) } } : {}),
        headersTimeoutMs: cfg.proxy.headersTimeoutMs,
        requestTimeoutMs: cfg.proxy.requestTimeoutMs,
        maxUploadBytes: cfg.proxy.maxUploadBytes,
        certs,
        guard,
        proxy,
        routes: daemon.phoneRoutes,
        registration: () => (daemon.registration as RegistrationSource | undefined)?.current(),
        draining: daemon.draining,
        log,
      });
      daemon.addresses.https = await server.listen();
      certs.startWatching();
    },
    async drain(deadlineMs) {
      await server?.drain(deadlineMs);
    },
    async stop() {
      server?.stop();
      certs.stop();
      guard.stop();
      await proxy.destroy();
    },
  });
  return { certs, guard };
}
