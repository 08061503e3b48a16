import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { LookupFunction } from 'node:net';
import { Agent, request } from 'undici';
import selfsigned from 'selfsigned';
import { SimPhone, type PhoneSpec, type PhoneTiming, type SimFaults } from './phone.js';
import { handleRest } from './rest.js';
import { pcapFile } from './media.js';
import { bootPolycomPhone } from './boot.js';

/**
 * Many simulated phones in one process. Each phone listens on its own loopback address
 * (127.20.x.y) and is told apart by the local address a connection arrived on; all of them
 * share one HTTPS server, so a phone costs one listening socket and a small object.
 */

export interface FarmOptions {
  count: number;
  /** Offset in the 127.20.0.0/16 address plan, so farms in parallel tests do not collide. */
  firstIndex?: number;
  /** 0: each phone gets its own ephemeral port (safe in parallel tests). */
  port?: number;
  timing?: Partial<PhoneTiming>;
  defaults?: Omit<PhoneSpec, 'mac' | 'ip'>;
  faults?: SimFaults;
  /** Self-signed phone certificate (PEM); generated (EC P-256) when absent. */
  tls?: { cert: string; key: string };
  /** Host name → loopback IP for URLs the phones call (capture upload, notifications). */
  hosts?: Record<string, string>;
  /**
   * Where the phones provision from (the relay's phone port): with it, a rebooting phone boots
   * through the relay, fetches the firmware its master config names and installs it.
   */
  provisioning?: { relayUrl: string; servername: string; ca: string; account: { user: string; password: string } };
  /** Called with each upload/notification failure (the phone itself just gives up). */
  onError?: (phone: SimPhone, what: string, err: unknown) => void;
}

/** Provisioning boots a phone tries before it gives up and comes back on the firmware it had. */
const BOOT_TRIES = 5;
const BOOT_RETRY_MS = 1_000;

export interface FarmPhone {
  readonly phone: SimPhone;
  readonly port: number;
}

/** Address of the phone at `index` in the plan: 127.20.{index/250}.{index%250 + 1}. */
export function phoneAddress(index: number): string {
  if (index < 0 || index >= 250 * 256) throw new RangeError(`phone index ${index} outside the 127.20.0.0/16 plan`);
  return `127.20.${Math.floor(index / 250)}.${(index % 250) + 1}`;
}

export function phoneMac(index: number): string {
  return `0004f2${index.toString(16).padStart(6, '0')}`;
}

export async function phoneCert(): Promise<{ cert: string; key: string }> {
  const pems = await selfsigned.generate(
    [
      { name: 'commonName', value: 'Polycom VVX' },
      { name: 'organizationName', value: 'Polycom Inc.' },
    ],
    { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' },
  );
  return { cert: pems.cert, key: pems.private };
}

export class PhoneFarm {
  readonly phones: FarmPhone[] = [];
  private readonly byAddr = new Map<string, SimPhone>();
  private readonly listeners = new Map<SimPhone, NetServer>();
  private readonly sockets = new Map<SimPhone, Set<Socket>>();
  private readonly servers = new Map<SimPhone, HttpsServer>();
  private readonly ports = new Map<SimPhone, number>();
  private https!: HttpsServer;
  private readonly lookup: LookupFunction;
  private provisioning: FarmOptions['provisioning'];
  /** Upload/notification results, for tests: `${mac} ${what} ${status}`. */
  readonly outgoing: string[] = [];

  private constructor(private readonly opts: FarmOptions) {
    this.provisioning = opts.provisioning;
    const hosts = opts.hosts ?? {};
    this.lookup = ((hostname: string, options: { all?: boolean }, cb: (...a: unknown[]) => void) => {
      const ip = hosts[hostname] ?? (/^[\d.]+$/.test(hostname) ? hostname : undefined);
      if (!ip || !ip.startsWith('127.')) return cb(Object.assign(new Error(`simulated phone cannot resolve ${hostname} (loopback only)`), { code: 'ENOTFOUND' }));
      if (options.all) cb(null, [{ address: ip, family: 4 }]);
      else cb(null, ip, 4);
    }) as unknown as LookupFunction;
  }

  static async start(opts: FarmOptions): Promise<PhoneFarm> {
    const farm = new PhoneFarm(opts);
    await farm.init();
    return farm;
  }

  private async init(): Promise<void> {
    const tls = this.opts.tls ?? (await phoneCert());
    this.https = this.makeServer(tls);
    const timing: PhoneTiming = { rebootOfflineMs: 1_000, callStepMs: 20, answerMs: 100, ...this.opts.timing };
    const first = this.opts.firstIndex ?? 0;
    const hooks = {
      goOffline: (p: SimPhone) => this.offline(p),
      goOnline: (p: SimPhone) => void this.listen(p).catch((err: unknown) => this.opts.onError?.(p, 'relisten', err)),
      event: (p: SimPhone, xml: string) => this.notify(p, xml),
      ...(this.opts.provisioning ? { boot: (p: SimPhone) => this.boot(p) } : {}),
    };
    const created: SimPhone[] = [];
    for (let i = 0; i < this.opts.count; i++) {
      const p = new SimPhone({ ...this.opts.defaults, mac: phoneMac(first + i), ip: phoneAddress(first + i) }, timing, hooks);
      if (this.opts.faults) p.faults = { ...this.opts.faults };
      created.push(p);
    }
    // Bind in bounded batches: thousands of listen() calls at once only queue in libuv.
    const BATCH = 256;
    for (let i = 0; i < created.length; i += BATCH) {
      await Promise.all(created.slice(i, i + BATCH).map((p) => this.listen(p)));
    }
    // Listed once bound, with the port each got (a phone that goes offline and back keeps it).
    for (const phone of created) this.phones.push({ phone, port: this.ports.get(phone) ?? 0 });
  }

  private makeServer(tls: { cert: string; key: string }): HttpsServer {
    const srv = createHttpsServer({ cert: tls.cert, key: tls.key, keepAliveTimeout: 5_000 }, (req, res) => {
      const phone = this.byAddr.get(`${req.socket.localAddress}:${req.socket.localPort}`);
      if (!phone) {
        res.writeHead(500).end();
        return;
      }
      handleRest(phone, req, res, { uploadCapture: (p, url) => this.uploadCapture(p, url) }).catch(() => res.destroy());
    });
    srv.on('tlsClientError', () => undefined);
    return srv;
  }

  private listen(phone: SimPhone): Promise<void> {
    const net = createNetServer((sock) => {
      const set = this.sockets.get(phone) ?? new Set<Socket>();
      this.sockets.set(phone, set);
      set.add(sock);
      sock.on('close', () => set.delete(sock));
      sock.on('error', () => undefined);
      (this.servers.get(phone) ?? this.https).emit('connection', sock);
    });
    return new Promise((resolve, reject) => {
      net.once('error', reject);
      net.listen({ host: phone.ip, port: this.ports.get(phone) ?? this.opts.port ?? 0, backlog: 64 }, () => {
        net.off('error', reject);
        const addr = net.address();
        const port = typeof addr === 'object' && addr ? addr.port : 0;
        this.ports.set(phone, port);
        this.byAddr.set(`${phone.ip}:${port}`, phone);
        this.listeners.set(phone, net);
        resolve();
      });
    });
  }

  private offline(phone: SimPhone): void {
    this.listeners.get(phone)?.close();
    this.listeners.delete(phone);
    for (const s of this.sockets.get(phone) ?? []) s.destroy();
  }

  /** Takes a phone off the network for `ms` (unplugged: nothing listens at its address), then back. */
  takeDown(index: number, ms: number): boolean {
    const fp = this.phones[index];
    if (!fp || !fp.phone.online) return false;
    fp.phone.online = false;
    this.offline(fp.phone);
    setTimeout(() => {
      fp.phone.online = true;
      this.listen(fp.phone).catch((err: unknown) => this.opts.onError?.(fp.phone, 'relisten', err));
    }, ms).unref();
    return true;
  }

  /** Gives one phone a new certificate (as after a hardware swap), to exercise pinning. */
  async replaceCert(phone: SimPhone): Promise<void> {
    this.servers.set(phone, this.makeServer(await phoneCert()));
    for (const s of this.sockets.get(phone) ?? []) s.destroy();
  }

  private agentFor(phone: SimPhone): Agent {
    return new Agent({ localAddress: phone.ip, connect: { rejectUnauthorized: false, lookup: this.lookup }, connections: 1 });
  }

  private uploadCapture(phone: SimPhone, url: string): void {
    const headers = {
      'content-type': 'application/vnd.tcpdump.pcap',
      'user-agent': `FileTransport PolycomVVX-${phone.model.replace(' ', '_')}-UA/${phone.firmware} Type/Application`,
    };
    this.send(phone, 'capture', 'capture upload', url, 'PUT', pcapFile(phone.ip, phone.mac), headers);
  }

  /** Where rebooting phones boot from from now on (a farm started with `provisioning` only). */
  setProvisioning(p: NonNullable<FarmOptions['provisioning']>): void {
    if (!this.opts.provisioning) throw new Error('this farm was started without provisioning: its phones do not boot through a server');
    this.provisioning = p;
  }

  /** One provisioning boot through the relay from the phone's own address; resolves with the version of the firmware it got. */
  private async boot(phone: SimPhone): Promise<string | undefined> {
    const prov = this.provisioning;
    if (!prov) return undefined;
    const attempt = () =>
      bootPolycomPhone({
        relayUrl: prov.relayUrl,
        servername: prov.servername,
        ca: prov.ca,
        mac: phone.mac,
        model: phone.model.replace(' ', '_'),
        appVersion: phone.firmware,
        localAddress: phone.ip,
        account: prov.account,
        fetchFirmware: true,
      });
    // A phone whose provisioning server does not answer (busy, refused) tries again, as the updater does.
    let r: Awaited<ReturnType<typeof bootPolycomPhone>> | undefined;
    for (let tries = 1; !r; tries++) {
      try {
        r = await attempt();
      } catch (err) {
        this.outgoing.push(`${phone.mac} boot error`);
        this.opts.onError?.(phone, 'provisioning boot', err);
        if (tries >= BOOT_TRIES) throw err;
        await new Promise((resolve) => setTimeout(resolve, BOOT_RETRY_MS));
      }
    }
    this.outgoing.push(`${phone.mac} boot ${r.firmware ? `${r.firmware.status} ${r.firmware.path} ${r.firmware.version ?? '-'}` : 'no-firmware'}`);
    return r.firmware?.status === 200 ? r.firmware.version : undefined;
  }

  private notify(phone: SimPhone, xml: string): void {
    const url = phone.config.get('apps.telNotification.URL')?.[0];
    if (!url) return;
    this.send(phone, 'notify', 'notification', url, 'POST', xml, { 'content-type': 'application/xml' });
  }

  /** One outgoing request from the phone's own address; the outcome (and why, if refused) lands in `outgoing`. */
  private send(phone: SimPhone, tag: string, what: string, url: string, method: 'PUT' | 'POST', body: string | Buffer, headers: Record<string, string>): void {
    const agent = this.agentFor(phone);
    request(url, { method, body, headers, dispatcher: agent, headersTimeout: 10_000, bodyTimeout: 10_000 })
      .then(async (res) => {
        const text = await res.body.text();
        this.outgoing.push(`${phone.mac} ${tag} ${res.statusCode}${res.statusCode >= 300 ? ` ${text.trim().slice(0, 120)}` : ''}`);
      })
      .catch((err: unknown) => {
        this.outgoing.push(`${phone.mac} ${tag} error`);
        this.opts.onError?.(phone, what, err);
      })
      .finally(() => void agent.close());
  }

  phone(i: number): SimPhone {
    const p = this.phones[i]?.phone;
    if (!p) throw new RangeError(`no phone ${i}`);
    return p;
  }

  /** The DMS-style target for phone `i` (credentials as the phone expects them). */
  target(
    i: number,
    deviceId = `dev-${this.phone(i).mac}`,
  ): { deviceId: string; mac: string; ip: string; port: number; vendor: 'polycom'; model: string; credentials: { user: string; password: string } } {
    const fp = this.phones[i]!;
    return { deviceId, mac: fp.phone.mac, ip: fp.phone.ip, port: fp.port, vendor: 'polycom', model: fp.phone.model, credentials: { user: 'Polycom', password: fp.phone.password } };
  }

  targets(): ReturnType<PhoneFarm['target']>[] {
    return this.phones.map((_, i) => this.target(i));
  }

  async close(): Promise<void> {
    for (const fp of this.phones) fp.phone.stop();
    await Promise.all([...this.listeners.values()].map((l) => new Promise<void>((r) => l.close(() => r()))));
    for (const set of this.sockets.values()) for (const s of set) s.destroy();
    this.listeners.clear();
    this.https.close();
    for (const s of this.servers.values()) s.close();
  }
}
