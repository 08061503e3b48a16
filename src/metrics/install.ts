import type { AdminRoute, AdminServer } from '../admin/server.js';
import type { Clock } from '../core/clock.js';
import type { MetricsDocument } from './sections.js';

/**
 * Serves `/metrics` on the admin port: process, process-wide events and this daemon's status
 * document. prom-client and the gauges are loaded with the first scrape (see relay-metrics.ts):
 * a relay nobody scrapes does not carry them.
 */
export function installMetrics(admin: AdminServer, document: () => MetricsDocument, clock: Clock): void {
  let route: Promise<AdminRoute> | undefined;
  admin.route('/metrics', async (req, res) => {
    route ??= import('./scrape.js').then((m) => m.scrapeRoute(document, clock));
    await (
      await route
    )(req, res);
  });
}
