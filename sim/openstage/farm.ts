import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { OpenStagePhone, type InteractionTiming, type OpenStageFaults } from './phone.js';

/**
 * Simulated OpenStage phones, each listening for contact-mes (plain HTTP) on its own
 * loopback address. Their indices start at 200 × 250 in the 127.20.0.0/16 plan
 * (127.20.200.1 …), so they never collide with the Polycom farm's.
 */

export const OPENSTAGE_FIRST_INDEX = 200 * 250;

export function openStageAddress(index: number): string {
  const i = OPENSTAGE_FIRST_INDEX + index;
  if (index < 0 || i >= 250 * 256) throw new RangeError(`OpenStage phone index ${index} outside the plan`);
  return `127.20.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

export function openStageMac(index: number): string {
  return `00:01:e3:${[16, 8, 0].map((s) => ((index >> s) & 0xff).toString(16).padStart(2, '0')).join(':')}`;
}

export interface OpenStageFarmOptions {
  count: number;
  /** Offset within the OpenStage range, so farms in parallel tests do not collide. */
  firstIndex?: number;
  /** The phones' maxItems (and the fragment size of their replies); default -1. */
  maxItems?: number;
  extraItems?: number;
  /** PEM of the CA the relay's certificate chains to. */
  ca?: string;
  /** Path the phones post to (default /DeploymentService/LoginService). */
  dlsPath?: string;
  faults?: OpenStageFaults;
  /** Host names the phones resolve without DNS, e.g. { [relay FQDN]: '127.0.0.1' }. */
  hosts?: Record<string, string>;
}

/** The phones' view of their interactions since the last reading (benchmarks). */
export interface InteractionStats {
  interactions: number;
  /** Interactions that ended on an error or an HTTP status other than 200 (a few, with their phone). */
  failed: number;
  failures: string[];
  /** Milliseconds: [p50, p90, p99, max] of each timing over the solicited interactions. */
  startDelayMs: number[];
  firstAnswerMs: number[];
  totalMs: number[];
}

const quantiles = (xs: number[]): number[] => {
  if (xs.length === 0) return [];
  const s = [...xs].sort((a, b) => a - b);
  return [0.5, 0.9, 0.99, 1].map((q) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]!));
};

export class OpenStageFarm {
  readonly phones: { phone: OpenStagePhone; port: number }[] = [];
  private readonly servers: Server[] = [];
  private timings: InteractionTiming[] = [];
  private failures: string[] = [];
  private failed = 0;
  private interactions = 0;

  private constructor(private readonly opts: OpenStageFarmOptions) {}

  static async start(opts: OpenStageFarmOptions): Promise<OpenStageFarm> {
    const farm = new OpenStageFarm(opts);
    for (let i = 0; i < opts.count; i++) await farm.add(i + (opts.firstIndex ?? 0));
    return farm;
  }

  private async add(index: number): Promise<void> {
    const phone = new OpenStagePhone({
      ip: openStageAddress(index),
      mac: openStageMac(index),
      e164: `4930${String(1000 + index)}`,
      maxItems: this.opts.maxItems ?? -1,
      ca: this.opts.ca,
      dlsPath: this.opts.dlsPath ?? '/DeploymentService/LoginService',
      extraItems: this.opts.extraItems ?? 0,
      hosts: this.opts.hosts,
    });
    if (this.opts.faults) phone.faults = { ...this.opts.faults };
    phone.on('interaction', (reason: string, actions: string[], timing: InteractionTiming | undefined) => {
      this.interactions++;
      const bad = actions.find((a) => a.startsWith('error') || a.startsWith('http') || a.startsWith('skipped') || a === 'nonce-mismatch');
      // A solicited call-back answered CleanUp at once: the DLS had no command waiting for it.
      const unexpected = reason === 'solicited' && actions.length === 1 && actions[0] === 'CleanUp' ? 'ended at once (nothing waiting for it)' : undefined;
      if (bad !== undefined || unexpected !== undefined) {
        this.failed++;
        if (this.failures.length < 5) this.failures.push(`${phone.ip} ${reason}: ${bad ?? unexpected}`);
      }
      if (timing && reason === 'solicited') this.timings.push(timing);
    });
    const srv = createServer((req, res) => this.onContactMe(phone, req, res));
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen({ host: phone.ip, port: 0 }, () => resolve());
    });
    const addr = srv.address();
    this.servers.push(srv);
    this.phones.push({ phone, port: typeof addr === 'object' && addr ? addr.port : 0 });
  }

  private onContactMe(phone: OpenStagePhone, req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'POST' || req.url !== '/contact_dls.html/ContactDLS') {
      res.writeHead(404, { server: 'DlsClient' }).end();
      return;
    }
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
      if (body.length > 4096) req.destroy();
    });
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const host = form.get('dls_ip_addr');
      const port = Number(form.get('dls_ip_port'));
      if (form.get('ContactMe') !== 'true' || !host || !Number.isInteger(port) || port <= 0 || !host.startsWith('127.')) {
        res.writeHead(400, { server: 'DlsClient' }).end();
        return;
      }
      res.writeHead(204, { server: 'DlsClient' }).end();
      phone.contactMe({ host, port });
    });
  }

  phone(i: number): OpenStagePhone {
    const p = this.phones[i]?.phone;
    if (!p) throw new RangeError(`no phone ${i}`);
    return p;
  }

  /** The DMS-style target for phone `i`. */
  target(
    i: number,
    deviceId = `dev-${this.phone(i).mac.replace(/:/g, '')}`,
  ): { deviceId: string; mac: string; ip: string; port: number; vendor: 'openstage'; model: string; credentials: { user: string; password: string } } {
    const fp = this.phones[i]!;
    return {
      deviceId,
      mac: fp.phone.mac.replace(/:/g, ''),
      ip: fp.phone.ip,
      port: fp.port,
      vendor: 'openstage',
      model: 'OpenStage 60',
      credentials: { user: 'admin', password: 'unused' },
    };
  }

  /** What the phones saw of their interactions since the last call (then forgotten). */
  interactionStats(): InteractionStats {
    const pick = (f: (t: InteractionTiming) => number | undefined): number[] => this.timings.map(f).filter((v): v is number => v !== undefined);
    const out: InteractionStats = {
      interactions: this.interactions,
      failed: this.failed,
      failures: this.failures,
      startDelayMs: quantiles(pick((t) => t.startDelayMs)),
      firstAnswerMs: quantiles(pick((t) => t.firstAnswerMs)),
      totalMs: quantiles(pick((t) => t.totalMs)),
    };
    this.timings = [];
    this.failures = [];
    this.failed = 0;
    this.interactions = 0;
    return out;
  }

  /** Contact-mes received by all phones, for rate-limit tests. */
  contactMes(): number {
    return this.phones.reduce((n, p) => n + p.phone.contactMes, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const s of this.servers) s.closeAllConnections();
  }
}
