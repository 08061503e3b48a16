import { Registry } from 'prom-client';
import type { AdminServer } from '../admin/server.js';
import type { Clock } from '../core/clock.js';
import type { MetricsDocument } from './status-gauges.js';
import { metricsRoute } from './endpoint.js';
import { processRegistry } from './process-metrics.js';
import { relayMetrics } from './relay-metrics.js';
import { registerStatusGauges } from './status-gauges.js';

/** Serves `/metrics` on the admin port: process, process-wide events and this daemon's status document. */
export function installMetrics(admin: AdminServer, document: () => MetricsDocument, clock: Clock): Registry {
  const daemonRegistry = new Registry();
  const gauges = registerStatusGauges(daemonRegistry, { document, now: () => clock.now() });
  admin.route('/metrics', metricsRoute([processRegistry(), relayMetrics.registry, daemonRegistry], gauges.beforeScrape));
  return daemonRegistry;
}
