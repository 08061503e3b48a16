import type { Clock } from '../clock.js';
import type { RelayConfig } from '../config/schema.js';
import type { Component } from '../lifecycle.js';
import type { Logger } from '../log.js';
import type { Outbox, RegistrationSource } from '../management-agent/ports.js';
import type { Db } from '../store/db.js';
import type { DmsClient } from '../dms/client.js';
import { ImagesRepo } from '../store/images.js';
import { DownloadAgent } from './agent.js';
import type { ImageCachePort } from './ports.js';

export function wireDownloadAgent(o: {
  config: RelayConfig;
  db: Db;
  log: Logger;
  clock: Clock;
  outbox: Outbox;
  registration: RegistrationSource;
  dms: DmsClient;
  cache: ImageCachePort;
}): { agent: DownloadAgent; component: Component } {
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
  return { agent, component };
}
