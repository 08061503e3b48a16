import type { AddressInfo } from 'node:net';
import type { Clock } from '../core/clock.js';
import type { Component, Draining } from '../core/lifecycle.js';
import type { PartWiring } from '../core/part.js';
import type { PhoneRoute } from '../core/phone-route.js';
import type { RegistrationSource } from '../core/ports.js';
import type { RelayConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import { IpGuardStore } from '../store/ip-guard.js';
import type { CertificateManager } from '../tls/certificate-manager.js';
import { CidrSet } from '../config/cidr.js';
import { IpGuard } from './ip-guard.js';
import { BLOCKED_ADDRESSES_SHOWN } from '../core/status.js';
import type { DmsClient } from '../dms/client.js';
import { PhoneServer } from './phone-server.js';
import { ProvisioningProxy } from './provisioning-proxy.js';

export interface PhoneHttpsWiring extends PartWiring<'ipGuard'> {
  readonly guard: IpGuard;
}

/**
 * The phone-facing HTTPS port: IP guard, provisioning pass-through and the server itself,
 * serving the certificate `certs` holds (loaded by the time its component starts). `routes`
 * are the other parts' phone routes, tried in order before the pass-through.
 */
export function wirePhoneHttps(o: {
  config: RelayConfig;
  db: Db;
  log: Logger;
  clock: Clock;
  draining: Draining;
  registration: RegistrationSource;
  /** Provisioning passes through to the DMS over the one DMS client. */
  dms: DmsClient;
  certs: CertificateManager;
  routes: readonly PhoneRoute[];
  onListening: (address: AddressInfo) => void;
}): PhoneHttpsWiring {
  const cfg = o.config;
  const log = o.log.child({ part: 'phone-https' });
  const guard = new IpGuard(new IpGuardStore(o.db), cfg.ipGuard, o.clock, log);
  const proxy = new ProvisioningProxy(
    { upstreamTimeoutMs: cfg.proxy.upstreamTimeoutMs, upstreamConnections: cfg.proxy.upstreamConnections, maxUploadBytes: cfg.proxy.maxUploadBytes },
    o.dms,
    guard,
    log,
  );
  let server: PhoneServer | undefined;
  const component: Component = {
    name: 'phone-https',
    async start() {
      guard.load();
      server = new PhoneServer({
        listen: cfg.httpsListen,
        ...(cfg.lb.proxyProtocol ? { proxyProtocol: { trusted: new CidrSet(cfg.lb.trustedProxies) } } : {}),
        ...(cfg.lb.proxyProtocol ? { proxyProtocol: { trusted: new CidrSet(cfg.lb.trustedProxies) } } : {}),
        headersTimeoutMs: cfg.proxy.headersTimeoutMs,
        requestTimeoutMs: cfg.proxy.requestTimeoutMs,
        handshakeTimeoutMs: cfg.proxy.handshakeTimeoutMs,
        maxConnections: cfg.proxy.maxConnections,
        maxUploadBytes: cfg.proxy.maxUploadBytes,
        certs: o.certs,
        guard,
        proxy,
        routes: o.routes,
        registration: () => o.registration.current(),
        draining: o.draining,
        log,
      });
      o.onListening(await server.listen());
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
    guard,
    components: [component],
    phoneRoutes: [],
    handlers: {},
    status: { ipGuard: () => guard.status(BLOCKED_ADDRESSES_SHOWN) },
    readiness: [],
    adminViews: {},
  };
}
