import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { VERSION } from '../version.js';

let registry: Registry | undefined;

/**
 * Process metrics (CPU, RSS, heap, event-loop lag, open fds) under the relay's prefix,
 * registered once per process: they describe the process, not one daemon instance.
 */
export function processRegistry(): Registry {
  if (registry) return registry;
  registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'cloud_relay_' });
  // These gauges are sums of the per-type families beside them and carry a counter's
  // `_total` suffix, which `promtool check metrics` rejects; the per-type ones stay.
  for (const redundant of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(`cloud_relay_${redundant}`);
  }
  new Gauge({
    name: 'cloud_relay_build_info',
    help: 'Always 1; the labels carry the relay and Node.js versions',
    labelNames: ['version', 'node'] as const,
    registers: [registry],
  }).set({ version: VERSION, node: process.versions.node }, 1);
  return registry;
}
