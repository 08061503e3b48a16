/**
 * Events that happen deep inside a part (a finished device command, bytes served, an
 * upstream fetch, a ban) and cannot be read from a status getter at scrape time. Parts call the typed
 * methods below. The sink keeps its counts itself and writes its own exposition text:
 * prom-client (with the OpenTelemetry API it loads, ~80 modules, ~5 MB resident) is loaded
 * with the first scrape, not by a relay that nobody scrapes.
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

type LabelValues<N extends string> = Readonly<Record<N, string>>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function labelText(pairs: readonly (readonly [string, string])[]): string {
  return pairs.length === 0 ? '' : `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
}

function num(v: number): string {
  return v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v);
}

/** A counter family in the Prometheus text format, as prom-client writes it. */
class CounterFamily<N extends string> {
  private readonly series = new Map<string, { readonly labels: string; value: number }>();
  constructor(
    private readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly N[],
  ) {}

  inc(labels: LabelValues<N>, by = 1): void {
    const key = this.labelNames.map((n) => labels[n]).join('\u0000');
    let s = this.series.get(key);
    if (!s) {
      s = { labels: labelText(this.labelNames.map((n) => [n, labels[n]] as const)), value: 0 };
      this.series.set(key, s);
    }
    s.value += by;
  }

  text(): string {
    let out = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} counter\n`;
    for (const s of this.series.values()) out += `${this.name}${s.labels} ${num(s.value)}\n`;
    return out;
  }
}

/** A histogram family in the Prometheus text format, as prom-client writes it (`le` first). */
class HistogramFamily<N extends string> {
  private readonly series = new Map<string, { readonly labels: readonly (readonly [string, string])[]; readonly counts: number[]; sum: number; count: number }>();
  constructor(
    private readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly N[],
    private readonly buckets: readonly number[],
  ) {}

  observe(labels: LabelValues<N>, value: number): void {
    const key = this.labelNames.map((n) => labels[n]).join('\u0000');
    let s = this.series.get(key);
    if (!s) {
      s = { labels: this.labelNames.map((n) => [n, labels[n]] as const), counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  text(): string {
    let out = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} histogram\n`;
    for (const s of this.series.values()) {
      this.buckets.forEach((le, i) => (out += `${this.name}_bucket${labelText([['le', num(le)], ...s.labels])} ${s.counts[i]}\n`));
      out += `${this.name}_bucket${labelText([['le', '+Inf'], ...s.labels])} ${s.count}\n`;
      out += `${this.name}_sum${labelText(s.labels)} ${num(s.sum)}\n`;
      out += `${this.name}_count${labelText(s.labels)} ${s.count}\n`;
    }
    return out;
  }
}

export class RelayMetrics {
  private readonly deviceCommands = new CounterFamily('cloud_relay_device_commands_total', 'Device commands finished, by command kind and outcome', ['kind', 'outcome']);
  private readonly deviceCommandSeconds = new HistogramFamily(
    'cloud_relay_device_command_duration_seconds',
    'Time from sending a command to a phone until its outcome is known, by command kind',
    ['kind'],
    COMMAND_BUCKETS,
  );
  private readonly servedBytes = new CounterFamily(
    'cloud_relay_served_bytes_total',
    'Response body bytes sent to phones on the HTTPS port, by source (cache or provisioning proxy)',
    ['source'],
  );
  private readonly upstreamFetches = new CounterFamily(
    'cloud_relay_upstream_fetches_total',
    'Firmware downloads into the cache from the DMS, by kind (image of the desired set, or on-demand firmware path) and outcome',
    ['kind', 'outcome'],
  );
  private readonly ipGuardBans = new CounterFamily('cloud_relay_ip_guard_bans_total', 'Source IPs banned (temporarily) or blacklisted (until an admin lifts it) by the IP guard', [
    'action',
  ]);
  private readonly proxyRefusals = new CounterFamily(
    'cloud_relay_proxy_protocol_refused_total',
    'Phone-port connections refused under lb.proxyProtocol, by reason (untrusted source, missing, invalid or late PROXY header)',
    ['reason'],
  );
  private readonly connectionsCut = new CounterFamily(
    'cloud_relay_phone_connections_cut_total',
    'Phone-port connections cut without a request (TLS handshake or request headers too slow) or refused over proxy.maxConnections, by reason',
    ['reason'],
  );

  /** The exposition text of these families (the order prom-client registered them in). */
  metrics(): string {
    return [this.deviceCommands, this.deviceCommandSeconds, this.servedBytes, this.upstreamFetches, this.ipGuardBans, this.proxyRefusals, this.connectionsCut]
      .map((f) => f.text())
      .join('\n');
  }

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
