import type { Dispatcher } from 'undici';
import type { Clock } from '../core/clock.js';
import type { RelayConfig } from '../config/schema.js';
import type { Component } from '../core/lifecycle.js';
import type { PartWiring } from '../core/part.js';
import type { Logger } from '../log.js';
import type { Outbox, RegistrationSource } from '../core/ports.js';
import type { Db } from '../store/db.js';
import { ImagesRepo } from '../store/images.js';
import { DownloadAgent } from './agent.js';
import type { ImageCachePort } from '../core/image-cache.js';

export interface DownloadAgentWiring extends PartWiring<'images', { 'images.sync': () => void }> {
  readonly agent: DownloadAgent;
}

export function wireDownloadAgent(o: {
  config: RelayConfig;
  db: Db;
  log: Logger;
  clock: Clock;
  outbox: Outbox;
  registration: RegistrationSource;
  dispatcher: Dispatcher;
  cache: ImageCachePort;
  onUnauthorized?: (reason: string) => void;
}): DownloadAgentWiring {
  const agent = new DownloadAgent({
    repo: new ImagesRepo(o.db),
    cache: o.cache,
    outbox: o.outbox,
    registration: o.registration,
    dmsUrl: o.config.dmsUrl,
    dispatcher: o.dispatcher,
    log: o.log.child({ part: 'download-agent' }),
    clock: o.clock,
    periodicSyncMs: o.config.cache.periodicSyncMinutes * 60_000,
    ...(o.onUnauthorized ? { onUnauthorized: o.onUnauthorized } : {}),
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
    status: { images: () => agent.counters() },
    readiness: [],
    adminViews: { '/images': () => agent.view() },
  };
}
