import { Counter, Histogram, Registry } from 'prom-client';

/**
 * Events that happen deep inside a part (a finished device command, bytes served, an
 * upstream fetch, a ban) and cannot be read from a status getter at scrape time. Parts call the typed
 * methods below; nothing else of prom-client leaks into them.
 *
 * One instance per process (`relayMetrics`): production runs one daemon per process, and a
 * process-wide sink spares every constructor a metrics parameter. State that belongs to one
 * daemon (outbox depth, readiness, status getters) is pulled per daemon instead, see
 * status-gauges.ts.
 */

export type DeviceCommandOutcome = 'success' | 'failure' | 'not_applicable';
export type ServedSource = 'cache' | 'proxy';
/** `image`: an image of the DMS's desired set (by sha256); `on_demand`: a firmware path outside it. */
export type UpstreamFetchKind = 'image' | 'on_demand';
export type UpstreamFetchOutcome = 'ok' | 'error';
export type IpGuardAction = 'ban' | 'blacklist';
/** Why a phone-port connection was refused under lb.proxyProtocol. */
export type ProxyRefusal = 'untrusted' | 'missing' | 'invalid' | 'timeout';

/** Latency buckets for phone calls: most answer in tens of ms, reboots and captures take seconds. */
const COMMAND_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class RelayMetrics {
  readonly registry = new Registry();

  private readonly deviceCommands = new Counter({
    name: 'cloud_relay_device_commands_total',
    help: 'Device commands finished, by command kind and outcome',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly deviceCommandSeconds = new Histogram({
    name: 'cloud_relay_device_command_duration_seconds',
    help: 'Time from sending a command to a phone until its outcome is known, by command kind',
    labelNames: ['kind'] as const,
    buckets: COMMAND_BUCKETS,
    registers: [this.registry],
  });
  private readonly servedBytes = new Counter({
    name: 'cloud_relay_served_bytes_total',
    help: 'Response body bytes sent to phones on the HTTPS port, by source (cache or provisioning proxy)',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  private readonly upstreamFetches = new Counter({
    name: 'cloud_relay_upstream_fetches_total',
    help: 'Firmware downloads into the cache from the DMS, by kind (image of the desired set, or on-demand firmware path) and outcome',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly ipGuardBans = new Counter({
    name: 'cloud_relay_ip_guard_bans_total',
    help: 'Source IPs banned (temporarily) or blacklisted (until an admin lifts it) by the IP guard',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });

  private readonly proxyRefusals = new Counter({
    name: 'cloud_relay_proxy_protocol_refused_total',
    help: 'Phone-port connections refused under lb.proxyProtocol, by reason (untrusted source, missing, invalid or late PROXY header)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  private readonly connectionsCut = new Counter({
    name: 'cloud_relay_phone_connections_cut_total',
    help: 'Phone-port and OpenStage DLS-port connections cut without a request (TLS handshake or request headers too slow) or refused over proxy.maxConnections, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  constructor() {
    for (const reason of ['handshake_timeout', 'headers_timeout', 'over_cap'] as const) this.connectionsCut.inc({ reason }, 0);
    // Label sets known up front are exported as 0 so rate() works from the first scrape.
    for (const source of ['cache', 'proxy'] as const) this.servedBytes.inc({ source }, 0);
    for (const action of ['ban', 'blacklist'] as const) this.ipGuardBans.inc({ action }, 0);
    for (const reason of ['untrusted', 'missing', 'invalid', 'timeout'] as const) this.proxyRefusals.inc({ reason }, 0);
    for (const kind of ['image', 'on_demand'] as const) for (const outcome of ['ok', 'error'] as const) this.upstreamFetches.inc({ kind, outcome }, 0);
  }

  /** One device's command finished; `seconds` from the first request to the phone until the outcome. */
  deviceCommand(kind: string, outcome: DeviceCommandOutcome, seconds: number): void {
    this.deviceCommands.inc({ kind, outcome });
    if (Number.isFinite(seconds) && seconds >= 0) this.deviceCommandSeconds.observe({ kind }, seconds);
  }

  bytesServed(source: ServedSource, bytes: number): void {
    if (bytes > 0) this.servedBytes.inc({ source }, bytes);
  }

  upstreamFetch(kind: UpstreamFetchKind, outcome: UpstreamFetchOutcome): void {
    this.upstreamFetches.inc({ kind, outcome });
  }

  ipGuardBan(action: IpGuardAction): void {
    this.ipGuardBans.inc({ action });
  }

  proxyRefused(reason: ProxyRefusal): void {
    this.proxyRefusals.inc({ reason });
  }

  connectionCut(reason: 'handshake_timeout' | 'headers_timeout' | 'over_cap'): void {
    this.connectionsCut.inc({ reason });
  }
}

/** The process-wide sink the parts record into. */
export const relayMetrics = new RelayMetrics();
