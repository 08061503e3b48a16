import { Registry } from 'prom-client';
import type { AdminRoute } from '../admin/server.js';
import type { Clock } from '../core/clock.js';
import type { MetricsDocument } from './sections.js';
import { metricsRoute } from './endpoint.js';
import { processRegistry } from './process-metrics.js';
import { relayMetrics } from './relay-metrics.js';
import { registerStatusGauges } from './status-gauges.js';

/** The `/metrics` route, made at the first scrape: the process registry, the process-wide events and this daemon's gauges. */
export function scrapeRoute(document: () => MetricsDocument, clock: Clock): AdminRoute {
  const daemonRegistry = new Registry();
  const gauges = registerStatusGauges(daemonRegistry, { document, now: () => clock.now() });
  return metricsRoute([processRegistry(), relayMetrics, daemonRegistry], gauges.beforeScrape);
}
