import type { Dispatcher } from 'undici';
import type { Clock } from '../core/clock.js';
import type { RelayConfig } from '../config/schema.js';
import type { Component } from '../core/lifecycle.js';
import type { PartWiring } from '../core/part.js';
import type { Logger } from '../log.js';
import type { RegistrationSource } from '../core/ports.js';
import type { Db } from '../store/db.js';
import { CacheRepo } from '../store/cache.js';
import { ImagesRepo } from '../store/images.js';
import type { DmsClient } from '../dms/client.js';
import { AccessChecker } from './access.js';
import type { FillSource } from './fill.js';
import { FirmwareCache } from './firmware-cache.js';
import { PathMatcher } from './patterns.js';
import { firmwareRoute } from './phone-route.js';
import { FirmwareServeLog } from './serve-log.js';
import { DownloadGrants } from './download-grants.js';
import type { StoreSpace } from '../store/space.js';
import type { CachedImage } from '../devices/driver.js';

export interface FirmwareCacheWiring extends PartWiring<'cache' | 'firmwareCache'> {
  readonly cache: FirmwareCache;
  readonly dispatcher: Dispatcher;
  /** Fetch parameters for an image URL: the bearer token only on the DMS's own origin (PROTOCOL §5). */
  imageSource(url: string): FillSource;
  /** Which phone the cache served which image, for firmware results. */
  readonly served: FirmwareServeLog;
  /** Per-phone, expiring download paths of cached images (OpenStage deployments). */
  readonly grants: DownloadGrants;
  /** An image of the desired set, and whether the cache holds it verified (firmware updates need it synced). */
  image(imageId: string): (CachedImage & { synced: boolean }) | undefined;
}

export function wireFirmwareCache(o: {
  config: RelayConfig;
  db: Db;
  log: Logger;
  clock: Clock;
  registration: RegistrationSource;
  dms: DmsClient;
  space?: StoreSpace;
}): FirmwareCacheWiring {
  const log = o.log.child({ part: 'cache' });
  // Fills and access checks talk to DMS hosts (images, provisioning): the DMS client's bulk lane.
  const dispatcher = o.dms.bulk;
  const cacheRepo = new CacheRepo(o.db);
  const images = new ImagesRepo(o.db);
  const cache = new FirmwareCache({
    dir: o.config.cacheDir,
    quotaBytes: o.config.cache.quotaBytes,
    cacheRepo,
    imagesRepo: images,
    dispatcher,
    log,
    clock: o.clock,
    space: o.space,
    upstreamProblem: (err, url) => o.dms.proxyProblem(err, url),
  });
  cache.store.init();
  const imageSource = (url: string): FillSource => ({ url, headers: o.dms.authHeaders(url) });
  const access = new AccessChecker({ dispatcher, ttlMs: o.config.cache.authTtlSeconds * 1000, clock: o.clock, log });
  const served = new FirmwareServeLog();
  const route = firmwareRoute({
    cache,
    images,
    cacheRepo,
    matcher: new PathMatcher(o.config.cache.firmwarePatterns),
    access,
    registration: o.registration,
    imageSource,
    log,
    served,
  });
  const grants = new DownloadGrants({ cache, images, log, now: () => o.clock.now() });
  const image = (imageId: string) => {
    const row = images.get(imageId);
    if (!row) return undefined;
    return { imageId: row.imageId, version: row.version, path: row.path, synced: row.state === 'synced' && cache.complete(row.sha256) !== undefined };
  };
  const component: Component = {
    name: 'firmware-cache',
    start: () => cache.init(),
    // The dispatcher belongs to the DMS client, which closes it last.
    stop: () => cache.stop(),
  };
  return {
    cache,
    dispatcher,
    imageSource,
    served,
    grants,
    image,
    components: [component],
    // Grants first: a granted file name may match the firmware patterns too.
    phoneRoutes: [grants.route(), route],
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
