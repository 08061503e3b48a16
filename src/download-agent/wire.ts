import type { Clock } from '../core/clock.js';
import type { RelayConfig } from '../config/schema.js';
import type { Component } from '../core/lifecycle.js';
import type { PartWiring } from '../core/part.js';
import type { Logger } from '../log.js';
import type { Outbox, RegistrationSource } from '../core/ports.js';
import type { Db } from '../store/db.js';
import type { DmsClient } from '../dms/client.js';
import { ImagesRepo } from '../store/images.js';
import { DownloadAgent } from './agent.js';
import type { ImageCachePort } from '../core/image-cache.js';

export interface DownloadAgentWiring extends PartWiring<'images' | 'firmwareSync', { 'images.sync': () => void }> {
  readonly agent: DownloadAgent;
}

export function wireDownloadAgent(o: {
  config: RelayConfig;
  db: Db;
  log: Logger;
  clock: Clock;
  outbox: Outbox;
  registration: RegistrationSource;
  dms: DmsClient;
  cache: ImageCachePort;
}): DownloadAgentWiring {
  const agent = new DownloadAgent({
    repo: new ImagesRepo(o.db),
    cache: o.cache,
    outbox: o.outbox,
    registration: o.registration,
    dmsUrl: o.dms.baseUrl,
    // Catalogue and images share the bulk lane (as the image fills do), keeping the API lane's
    // few connections free for registration and heartbeats.
    dispatcher: o.dms.bulk,
    log: o.log.child({ part: 'download-agent' }),
    clock: o.clock,
    periodicSyncMs: o.config.cache.periodicSyncMinutes * 60_000,
    onUnauthorized: (why) => o.dms.tokenRejected(why),
  });
  const component: Component = {
    name: 'download-agent',
    start: () => agent.start(),
    stop: () => agent.stop(),
  };
  return {
    agent,
    components: [component],
    phoneRoutes: [],
    // Also reached by the heartbeat's resync-images action; only schedules, never awaits.
    handlers: { 'images.sync': () => agent.requestSync('images.sync') },
    status: {
      images: () => agent.counters(),
      firmwareSync: () => {
        const v = agent.view();
        return { lastSyncAt: v.lastSyncAt, lastError: v.lastError, windowOpen: v.windowOpen, nextWindowAt: v.nextWindowAt, images: v.images };
      },
    },
    readiness: [],
    adminViews: { '/images': () => agent.view() },
  };
}
