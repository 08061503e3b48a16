import { Counter, Gauge, type Registry } from 'prom-client';
import type { MetricsDocument } from './sections.js';

export { METRIC_SECTIONS, type MetricsDocument } from './sections.js';

/** What one daemon exposes at scrape time; every field is read, never pushed. */
export interface StatusMetricSources {
  /** Builds the status document; called once per scrape. */
  readonly document: () => MetricsDocument;
  readonly now: () => number;
}

/** One status document per scrape, not one per metric (some sections query the store). */
class PerScrape<T> {
  private value: T | undefined;
  private fresh = false;
  constructor(private readonly read: () => T) {}
  get(): T {
    if (!this.fresh) {
      this.value = this.read();
      this.fresh = true;
      // A scrape's collect() calls all run within one turn of the event loop; a reader
      // that skips beforeScrape() still never sees values older than that turn.
      setImmediate(() => this.invalidate());
    }
    return this.value as T;
  }
  invalidate(): void {
    this.fresh = false;
  }
}

/**
 * Gauges whose value is read from the status document when Prometheus scrapes, so the parts
 * need no metrics code and a scrape always shows the same numbers as the heartbeat and
 * `cloud-relay status`.
 */
export function registerStatusGauges(registry: Registry, src: StatusMetricSources): { beforeScrape(): void } {
  const registers = [registry];
  const scrape = new PerScrape(src.document);
  const doc = () => scrape.get();
  const agent = () => doc().managementAgent;

  new Gauge({
    name: 'cloud_relay_registered',
    help: 'Whether the relay holds a registration with the DMS (1) or not (0)',
    registers,
    collect() {
      this.set(agent().registered ? 1 : 0);
    },
  });
  new Gauge({
    name: 'cloud_relay_heartbeat_age_seconds',
    help: 'Seconds since the last heartbeat the DMS accepted, or since start-up if none was yet; the DMS marks a relay Inactive after 600',
    registers,
    collect() {
      const last = agent().heartbeat.lastOkAt;
      const since = Date.parse(last ?? doc().startedAt);
      this.set(Math.max(0, (src.now() - since) / 1000));
    },
  });
  new Counter({
    name: 'cloud_relay_heartbeats_total',
    help: 'Heartbeats sent to the DMS since start-up',
    registers,
    collect() {
      mirror(this, agent().heartbeat.sent);
    },
  });
  new Gauge({
    name: 'cloud_relay_control_connected',
    help: 'Whether the WebSocket control channel to the DMS is open (1) or not (0)',
    registers,
    collect() {
      this.set(agent().control.connected ? 1 : 0);
    },
  });
  new Counter({
    name: 'cloud_relay_control_reconnects_total',
    help: 'Control channel reconnects since start-up',
    registers,
    collect() {
      mirror(this, agent().control.reconnects);
    },
  });
  new Gauge({
    name: 'cloud_relay_ready',
    help: 'Whether /readyz answers 200 (1) or 503 (0)',
    registers,
    collect() {
      this.set(doc().readiness.ready ? 1 : 0);
    },
  });
  new Gauge({
    name: 'cloud_relay_readiness_check',
    help: 'Each readiness check: passing (1) or failing (0)',
    labelNames: ['check'] as const,
    registers,
    collect() {
      this.reset();
      for (const c of doc().readiness.checks) this.set({ check: c.name }, c.ok ? 1 : 0);
    },
  });
  new Gauge({
    name: 'cloud_relay_outbox_depth',
    help: 'Relay-to-DMS frames stored and not yet acknowledged by the DMS',
    registers,
    collect() {
      this.set(agent().outboxDepth);
    },
  });
  new Gauge({
    name: 'cloud_relay_tasks',
    help: 'Device tasks by state',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const t = doc().tasks;
      this.set({ state: 'scheduled' }, t.scheduled);
      this.set({ state: 'running' }, t.running);
    },
  });
  new Gauge({
    name: 'cloud_relay_rollouts_active',
    help: 'Firmware rollouts not over yet (waiting for their window or image, running, or paused)',
    registers,
    collect() {
      this.set(doc().tasks.rollouts.active);
    },
  });
  new Gauge({
    name: 'cloud_relay_rollout_devices_active',
    help: 'Devices of unfinished rollouts now upgrading, or skipped until their phone has been idle long enough',
    labelNames: ['phase'] as const,
    registers,
    collect() {
      const r = doc().tasks.rollouts;
      this.set({ phase: 'upgrading' }, r.devicesUpgrading);
      this.set({ phase: 'waiting_idle' }, r.devicesWaitingIdle);
    },
  });
  // Per rollout for the few the status document lists (the newest): bounded label sets.
  new Gauge({
    name: 'cloud_relay_rollout_devices',
    help: 'Devices of each listed rollout by phase',
    labelNames: ['rollout', 'phase'] as const,
    registers,
    collect() {
      this.reset();
      for (const r of doc().rollouts) {
        const t = r.totals;
        const phases: [string, number][] = [
          ['upgraded', t.upgraded],
          ['already_current', t.alreadyCurrent],
          ['in_progress', t.inProgress],
          ['waiting_idle', t.waitingIdle],
          ['failed', t.failed],
          ['not_applicable', t.notApplicable],
          ['not_started', t.notStarted],
        ];
        for (const [phase, n] of phases) this.set({ rollout: r.rolloutId, phase }, n);
      }
    },
  });
  new Gauge({
    name: 'cloud_relay_rollout_state',
    help: 'State of each listed rollout: 1 for its current state (waiting, running, paused, aborted, cancelled, done)',
    labelNames: ['rollout', 'state'] as const,
    registers,
    collect() {
      this.reset();
      for (const r of doc().rollouts) this.set({ rollout: r.rolloutId, state: r.state }, 1);
    },
  });
  new Gauge({
    name: 'cloud_relay_devices_known',
    help: 'Devices the relay knows from task targets and monitoring',
    registers,
    collect() {
      this.set(doc().devices.known);
    },
  });
  new Gauge({
    name: 'cloud_relay_devices_online',
    help: 'Known devices that answered their last status poll',
    registers,
    collect() {
      this.set(doc().devices.online);
    },
  });
  new Gauge({
    name: 'cloud_relay_cache_size_bytes',
    help: 'Bytes of complete firmware objects in the cache',
    registers,
    collect() {
      this.set(doc().cache.bytes);
    },
  });
  new Gauge({
    name: 'cloud_relay_cache_objects',
    help: 'Complete firmware objects in the cache',
    registers,
    collect() {
      this.set(doc().cache.objects);
    },
  });
  // The cache keeps its own monotonic counts (the heartbeat reports them); the counter
  // mirrors them at scrape time rather than counting twice.
  new Counter({
    name: 'cloud_relay_cache_hits_total',
    help: 'Firmware requests served from a complete cached object',
    registers,
    collect() {
      mirror(this, doc().cache.hits);
    },
  });
  new Counter({
    name: 'cloud_relay_cache_misses_total',
    help: 'Firmware requests that needed an upstream fetch (or joined one in flight)',
    registers,
    collect() {
      mirror(this, doc().cache.misses);
    },
  });
  new Gauge({
    name: 'cloud_relay_images',
    help: 'Firmware images of the desired set by sync state',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const i = doc().images;
      this.set({ state: 'synced' }, i.synced);
      this.set({ state: 'syncing' }, i.syncing);
      this.set({ state: 'failed' }, i.failed);
    },
  });
  new Gauge({
    name: 'cloud_relay_certificate_expiry_seconds',
    help: 'Seconds until the phone-facing certificate expires (negative once expired; NaN without a certificate)',
    registers,
    collect() {
      const c = doc().cert;
      const notAfter = 'notAfter' in c ? Date.parse(c.notAfter) : NaN;
      this.set(Number.isFinite(notAfter) ? (notAfter - src.now()) / 1000 : NaN);
    },
  });
  new Gauge({
    name: 'cloud_relay_certificate_valid',
    help: 'Whether the phone-facing certificate passes every check (1) or not (0, also without a certificate)',
    registers,
    collect() {
      this.set(doc().cert.valid ? 1 : 0);
    },
  });

  new Gauge({
    name: 'cloud_relay_cache_fills_in_progress',
    help: 'Upstream fills of cache objects running now (each is one download however many phones wait on it)',
    registers,
    collect() {
      this.set(doc().firmwareCache.fills);
    },
  });
  new Gauge({
    name: 'cloud_relay_cache_quota_bytes',
    help: 'Disk budget of the firmware cache',
    registers,
    collect() {
      this.set(doc().firmwareCache.quotaBytes);
    },
  });
  new Gauge({
    name: 'cloud_relay_ip_guard_ips',
    help: 'Source IPs the IP guard tracks, by state (whitelisted after a success; blocked = banned or blacklisted now)',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const g = doc().ipGuard;
      this.set({ state: 'whitelisted' }, g.whitelisted);
      this.set({ state: 'blocked' }, g.blocked);
    },
  });
  new Gauge({
    name: 'cloud_relay_device_commands_queued',
    help: 'Device commands waiting for a slot (bounded by devices.backlog)',
    registers,
    collect() {
      this.set(doc().deviceWork.queued);
    },
  });
  new Gauge({
    name: 'cloud_relay_device_commands_in_flight',
    help: 'Device commands being sent to phones now (bounded by devices.concurrency)',
    registers,
    collect() {
      this.set(doc().deviceWork.inFlight);
    },
  });
  new Counter({
    name: 'cloud_relay_device_polls_total',
    help: 'Device status polls since start-up',
    registers,
    collect() {
      mirror(this, doc().deviceWork.polls);
    },
  });
  new Counter({
    name: 'cloud_relay_device_poll_failures_total',
    help: 'Device status polls that got no answer (phone offline or unreachable)',
    registers,
    collect() {
      mirror(this, doc().deviceWork.pollFailures);
    },
  });
  new Counter({
    name: 'cloud_relay_device_polls_deferred_total',
    help: "Device status polls put off to the phone's next turn because the relay holds back from it for now (an OpenStage phone's contact-me minute, an interaction already open)",
    registers,
    collect() {
      mirror(this, doc().deviceWork.pollsDeferred);
    },
  });
  new Counter({
    name: 'cloud_relay_device_notifications_total',
    help: 'Telephony notifications phones pushed to the relay',
    registers,
    collect() {
      mirror(this, doc().deviceWork.notifications);
    },
  });
  return { beforeScrape: () => scrape.invalidate() };
}

/** Sets a counter to an externally kept monotonic total. */
function mirror(counter: Counter, total: number): void {
  counter.reset();
  if (total > 0) counter.inc(total);
}
