import { Registry } from 'prom-client';
import type { AdminServer } from '../admin/server.js';
import type { StatusSources } from '../status.js';
import type { Clock } from '../clock.js';
import type { Outbox, RegistrationSource } from '../management-agent/ports.js';
import { metricsRoute } from './endpoint.js';
import { processRegistry } from './process-metrics.js';
import { relayMetrics } from './relay-metrics.js';
import { registerStatusGauges } from './status-gauges.js';

/** The parts of the daemon metrics read; a structural type so this module does not import the daemon. */
export interface MetricsHost {
  readonly status: StatusSources;
  readonly clock: Clock;
  readonly startedAt: number;
  readonly outbox?: Outbox;
  readonly registration?: RegistrationSource;
}

/** Serves `/metrics` on the admin port: process, process-wide events and this daemon's status. */
export function installMetrics(host: MetricsHost, admin: AdminServer): Registry {
  const daemonRegistry = new Registry();
  const gauges = registerStatusGauges(daemonRegistry, {
    status: host.status,
    // Read at scrape time: parts may add sources after this call. Only the sections metrics
    // read: the phones and tasks summaries scan the store and have no metric.
    sections: () => {
      const s = host.status;
      return { managementAgent: s.agent?.(), firmwareCache: s.firmwareCache?.(), ipGuard: s.ipGuard?.(), deviceWork: s.deviceWork?.() };
    },
    readiness: () => admin.readiness(),
    registered: () => host.registration?.current() !== undefined,
    outboxDepth: () => host.outbox?.depth() ?? 0,
    startedAt: host.startedAt,
    now: () => host.clock.now(),
  });
  admin.route('/metrics', metricsRoute([processRegistry(), relayMetrics.registry, daemonRegistry], gauges.beforeScrape));
  return daemonRegistry;
}
