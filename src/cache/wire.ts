import { Agent, type Dispatcher } from 'undici';
import type { Clock } from '../core/clock.js';
import type { RelayConfig } from '../config/schema.js';
import type { Component } from '../core/lifecycle.js';
import type { PartWiring } from '../core/part.js';
import type { Logger } from '../log.js';
import type { RegistrationSource } from '../core/ports.js';
import type { Db } from '../store/db.js';
import { CacheRepo } from '../store/cache.js';
import { ImagesRepo } from '../store/images.js';
import { dmsSecureContext, dmsTrustedCa } from '../tls/trust.js';
import { AccessChecker } from './access.js';
import type { FillSource } from './fill.js';
import { FirmwareCache } from './firmware-cache.js';
import { PathMatcher } from './patterns.js';
import { firmwareRoute } from './phone-route.js';
import { timeouts } from '../core/timeouts.js';

export interface FirmwareCacheWiring extends PartWiring<'cache' | 'firmwareCache'> {
  readonly cache: FirmwareCache;
  readonly dispatcher: Dispatcher;
  /** Fetch parameters for an image URL: the bearer token only on the DMS's own origin (PROTOCOL 5). */
  imageSource(url: string): FillSource;
}

export function wireFirmwareCache(o: { config: RelayConfig; db: Db; log: Logger; clock: Clock; registration: RegistrationSource }): FirmwareCacheWiring {
  const log = o.log.child({ part: 'cache' });
  const ca = dmsTrustedCa(o.config.dmsCaFile);
  // One keep-alive pool per DMS origin (API, images, provisioning), verified against the DMS trust.
  const dispatcher = new Agent({ connections: o.config.proxy.upstreamConnections, connect: ca ? { secureContext: dmsSecureContext(ca) } : {}, keepAliveTimeout: timeouts.dmsIdle.ms });
  const cacheRepo = new CacheRepo(o.db);
  const images = new ImagesRepo(o.db);
  const cache = new FirmwareCache({ dir: o.config.cacheDir, quotaBytes: o.config.cache.quotaBytes, cacheRepo, imagesRepo: images, dispatcher, log, clock: o.clock });
  cache.store.init();
  const dmsOrigin = new URL(o.config.dmsUrl).origin;
  const imageSource = (url: string): FillSource => {
    const reg = o.registration.current();
    const onDms = new URL(url).origin === dmsOrigin;
    return { url, headers: onDms && reg ? { authorization: `Bearer ${reg.token}` } : {} };
  };
  const access = new AccessChecker({ dispatcher, ttlMs: o.config.cache.authTtlSeconds * 1000, clock: o.clock, log });
  const route = firmwareRoute({ cache, images, cacheRepo, matcher: new PathMatcher(o.config.cache.firmwarePatterns), access, registration: o.registration, imageSource, log });
  const component: Component = {
    name: 'firmware-cache',
    start: () => cache.init(),
    stop: async () => {
      await cache.stop();
      await dispatcher.close();
    },
  };
  return {
    cache,
    dispatcher,
    imageSource,
    components: [component],
    phoneRoutes: [route],
    handlers: {},
    status: {
      cache: () => {
        const s = cache.stats();
        return { bytes: s.bytes, objects: s.objects, hits: s.hits, misses: s.misses };
      },
      firmwareCache: () => cache.stats(),
    },
    readiness: [{ name: 'cache-dir-writable', check: () => (cache.writable() ? { ok: true } : { ok: false, detail: `cache directory ${o.config.cacheDir} is not usable` }) }],
    adminViews: {},
  };
}
