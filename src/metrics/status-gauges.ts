import { Counter, Gauge, type Registry } from 'prom-client';
import type { StatusSources } from '../status.js';
import type { ReadinessReport } from '../admin/health.js';

/** What one daemon exposes at scrape time; every field is read, never pushed. */
export interface StatusMetricSources {
  readonly status: StatusSources;
  readonly readiness: () => ReadinessReport;
  /** Undefined until the management agent is wired. */
  readonly registered?: () => boolean;
  readonly outboxDepth?: () => number;
  readonly now: () => number;
}

/**
 * Gauges whose value is read from the parts' status getters when Prometheus scrapes, so
 * the parts need no metrics code and a scrape always shows the same numbers as the
 * heartbeat and `cloud-relay status`. A part not wired yet exports nothing (absent), not a
 * misleading zero — except counts the heartbeat itself reports as zeros.
 */
export function registerStatusGauges(registry: Registry, src: StatusMetricSources): void {
  const registers = [registry];

  new Gauge({
    name: 'cloud_relay_registered',
    help: 'Whether the relay holds a registration with the DMS (1) or not (0)',
    registers,
    collect() {
      this.reset();
      if (src.registered) this.set(src.registered() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'cloud_relay_ready',
    help: 'Whether /readyz answers 200 (1) or 503 (0)',
    registers,
    collect() {
      this.set(src.readiness().ready ? 1 : 0);
    },
  });
  new Gauge({
    name: 'cloud_relay_readiness_check',
    help: 'Each readiness check: passing (1) or failing (0)',
    labelNames: ['check'] as const,
    registers,
    collect() {
      this.reset();
      for (const c of src.readiness().checks) this.set({ check: c.name }, c.ok ? 1 : 0);
    },
  });
  new Gauge({
    name: 'cloud_relay_outbox_depth',
    help: 'Relay-to-DMS frames stored and not yet acknowledged by the DMS',
    registers,
    collect() {
      this.reset();
      if (src.outboxDepth) this.set(src.outboxDepth());
    },
  });
  new Gauge({
    name: 'cloud_relay_tasks',
    help: 'Device tasks by state',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const t = src.status.tasks?.() ?? { scheduled: 0, running: 0 };
      this.set({ state: 'scheduled' }, t.scheduled);
      this.set({ state: 'running' }, t.running);
    },
  });
  new Gauge({
    name: 'cloud_relay_devices_known',
    help: 'Devices the relay knows from task targets and monitoring',
    registers,
    collect() {
      this.set(src.status.devices?.().known ?? 0);
    },
  });
  new Gauge({
    name: 'cloud_relay_devices_online',
    help: 'Known devices that answered their last status poll',
    registers,
    collect() {
      this.set(src.status.devices?.().online ?? 0);
    },
  });
  new Gauge({
    name: 'cloud_relay_cache_size_bytes',
    help: 'Bytes of complete firmware objects in the cache',
    registers,
    collect() {
      this.set(src.status.cache?.().bytes ?? 0);
    },
  });
  new Gauge({
    name: 'cloud_relay_cache_objects',
    help: 'Complete firmware objects in the cache',
    registers,
    collect() {
      this.set(src.status.cache?.().objects ?? 0);
    },
  });
  // The cache keeps its own monotonic counts (the heartbeat reports them); the counter
  // mirrors them at scrape time rather than counting twice.
  new Counter({
    name: 'cloud_relay_cache_hits_total',
    help: 'Firmware requests served from a complete cached object',
    registers,
    collect() {
      mirror(this, src.status.cache?.().hits ?? 0);
    },
  });
  new Counter({
    name: 'cloud_relay_cache_misses_total',
    help: 'Firmware requests that needed an upstream fetch (or joined one in flight)',
    registers,
    collect() {
      mirror(this, src.status.cache?.().misses ?? 0);
    },
  });
  new Gauge({
    name: 'cloud_relay_images',
    help: 'Firmware images of the desired set by sync state',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const i = src.status.images?.() ?? { synced: 0, syncing: 0, failed: 0 };
      this.set({ state: 'synced' }, i.synced);
      this.set({ state: 'syncing' }, i.syncing);
      this.set({ state: 'failed' }, i.failed);
    },
  });
  new Gauge({
    name: 'cloud_relay_certificate_expiry_seconds',
    help: 'Seconds until the phone-facing certificate expires (negative once expired; absent without a certificate)',
    registers,
    collect() {
      this.reset();
      const c = src.status.cert?.();
      const notAfter = c ? Date.parse(c.notAfter) : NaN;
      if (Number.isFinite(notAfter)) this.set((notAfter - src.now()) / 1000);
    },
  });
  new Gauge({
    name: 'cloud_relay_certificate_valid',
    help: 'Whether the phone-facing certificate passes every check (1) or not (0); absent without a certificate',
    registers,
    collect() {
      this.reset();
      const c = src.status.cert?.();
      if (c) this.set(c.valid ? 1 : 0);
    },
  });
}

/** Sets a counter to an externally kept monotonic total. */
function mirror(counter: Counter, total: number): void {
  counter.reset();
  if (total > 0) counter.inc(total);
}
