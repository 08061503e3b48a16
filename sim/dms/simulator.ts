import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { createCa, issueCert, loopbackServerCert, type KeyedCert } from '../pki.js';
import type { DmsRoute } from './types.js';
import { TenantBook } from './tenants.js';
import { INACTIVE_AFTER_MS, RelayBook, type ReceivedFrame, type RelayState, type SimRelay } from './relays.js';
import { ControlHub, type ControlEvents } from './control.js';
import { applyFaults, noFaults, takeCanned, type ActiveFaults, type DmsFaults } from './faults.js';
import { HttpProblem, bearerToken, isRecord, readJson, sendJson, str } from './http-util.js';
import { startAdminApi, type AdminApi } from './admin.js';

export interface SimClock {
  now(): number;
}

export interface SimSite {
  id: string;
  name: string;
  subnets: string[];
  siteSpecific: boolean;
}

export interface DmsSimulatorOptions {
  /** tenantId → PIN. Default: `t-4711` with PIN `493027`. */
  readonly tenants?: Readonly<Record<string, string>>;
  readonly heartbeatIntervalSeconds?: number;
  readonly tokenTtlSeconds?: number;
  /** Given to relays at registration; default `{url}/provisioning/` on this simulator. */
  readonly provisioningUrl?: string;
  readonly site?: SimSite;
  readonly clock?: SimClock;
  /** Loopback host to bind (default 127.0.0.1). */
  readonly host?: string;
  readonly port?: number;
  /** Port of the plain-HTTP admin API on the same host (default: any). */
  readonly adminPort?: number;
  readonly pingIntervalMs?: number;
  readonly inactiveAfterMs?: number;
  /** Server certificate validity start (a date in the future simulates a relay whose clock is behind). */
  readonly certNotBefore?: Date;
  /** Use this CA instead of generating one (tests that need several servers under one root). */
  readonly ca?: KeyedCert;
  /** Use this server certificate (issued by `ca`, valid for the bound host) instead of issuing one. */
  readonly serverCert?: KeyedCert;
  readonly routes?: readonly DmsRoute[];
  /** One line per notable event (the demo prints them); silent when absent. */
  readonly log?: (line: string) => void;
}

export interface RelayView {
  relayId: string;
  tenantId: string;
  hostname: string;
  fqdn: string;
  version: string;
  state: RelayState;
  registrations: number;
  lastHeartbeatAt: string | null;
  heartbeats: number;
  lastHeartbeat: Record<string, unknown> | null;
  connected: boolean;
  runId: string | null;
  received: number;
  duplicates: number;
  pendingToRelay: number;
}

export interface TaskSpec {
  taskId?: string;
  name?: string;
  command: { kind: string; args?: Record<string, unknown> };
  targets: Record<string, unknown>[];
  executeAt?: string;
  expiresAt?: string;
}

export interface SimEvents extends ControlEvents {
  registered(e: { relayId: string; tenantId: string; isNew: boolean }): void;
  'register-rejected'(e: { tenantId: string; status: number; error: string }): void;
  heartbeat(e: { relayId: string; seq: unknown; body: Record<string, unknown> }): void;
}

const REGISTER_PATH = '/api/v1/relays/register';
const HEARTBEAT_RE = /^\/api\/v1\/relays\/([^/]+)\/heartbeat$/;
const CONTROL_RE = /^\/api\/v1\/relays\/([^/]+)\/control$/;

/**
 * A simulated DMS on loopback: real HTTPS and WSS under its own CA, tenants with PINs,
 * registration, heartbeats, the control channel, and an admin API for tests and the demo.
 */
/** One request or upgrade as the simulator saw it arrive. */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  /** The peer's address: the relay's own, or a forward proxy's (tinyproxy's `Bind` address). */
  readonly from: string;
  readonly upgrade: boolean;
}
const PEER_LOG_MAX = 10_000;

export class DmsSimulator {
  readonly ca: KeyedCert;
  readonly caPem: string;
  readonly events = new EventEmitter();
  readonly tenants: TenantBook;
  readonly relayBook: RelayBook;
  readonly faults: ActiveFaults = noFaults();
  heartbeatIntervalSeconds: number;
  private readonly clock: SimClock;
  private readonly server: Server;
  private readonly control: ControlHub;
  private readonly routes: DmsRoute[] = [];
  private readonly tokenTtlMs: number;
  private provisioningUrlValue: string | undefined;
  private readonly site: SimSite;
  private readonly log: (line: string) => void;
  private admin: AdminApi | undefined;
  private address: AddressInfo | undefined;
  private readonly peerLog: SeenRequest[] = [];

  constructor(private readonly opts: DmsSimulatorOptions = {}) {
    this.clock = opts.clock ?? { now: () => Date.now() };
    const now = () => this.clock.now();
    this.ca = opts.ca ?? createCa('cloud-relay DMS simulator CA');
    this.caPem = this.ca.certPem;
    const leaf = opts.serverCert
      ? opts.serverCert
      : opts.certNotBefore
        ? issueCert({
            cn: 'localhost',
            dnsNames: ['localhost'],
            ipAddresses: ['127.0.0.1', '::1'],
            issuer: this.ca,
            notBefore: opts.certNotBefore,
            notAfter: new Date(opts.certNotBefore.getTime() + 365 * 86_400_000),
          })
        : loopbackServerCert(this.ca, 'localhost');
    this.tenants = new TenantBook(now);
    for (const [t, pin] of Object.entries(opts.tenants ?? { 't-4711': '493027' })) this.tenants.set(t, pin);
    this.relayBook = new RelayBook(now, opts.inactiveAfterMs ?? INACTIVE_AFTER_MS);
    this.heartbeatIntervalSeconds = opts.heartbeatIntervalSeconds ?? 120;
    this.tokenTtlMs = (opts.tokenTtlSeconds ?? 3600) * 1000;
    this.provisioningUrlValue = opts.provisioningUrl;
    this.site = opts.site ?? { id: 'site-1', name: 'Head office', subnets: ['10.1.0.0/16'], siteSpecific: false };
    this.log = opts.log ?? (() => undefined);
    this.events.setMaxListeners(100);
    this.control = new ControlHub({
      relays: this.relayBook,
      faults: this.faults,
      pingIntervalMs: opts.pingIntervalMs ?? 25_000,
      emit: (event, payload) => this.emit(event, payload),
    });
    this.server = createServer({ key: leaf.keyPem, cert: leaf.certPem }, (req, res) => void this.handle(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
      this.notePeer(req);
      const m = CONTROL_RE.exec((req.url ?? '').split('?')[0]!);
      if (!m) {
        socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n');
        return;
      }
      this.control.handleUpgrade(req, socket, head, decodeURIComponent(m[1]!));
    });
    this.routes.push(...(opts.routes ?? []));
  }

  private emit<K extends keyof SimEvents>(event: K, payload: Parameters<SimEvents[K]>[0]): void {
    const p = payload as Record<string, unknown>;
    const relay = typeof p.relayId === 'string' ? short(p.relayId) : '?';
    if (event === 'connected') this.log(`control channel from relay ${relay} open (run ${String(p.runId).slice(0, 8)})`);
    else if (event === 'disconnected') this.log(`control channel from relay ${relay} closed (${String(p.code)}${p.reason ? ` ${String(p.reason)}` : ''})`);
    else if (event === 'frame' && isRecord(p.frame)) this.log(`relay ${relay} → DMS: ${String(p.frame.type)} ${describeFrame(p.frame)}`);
    else if (event === 'answer') this.log(`relay ${relay} ${String(p.kind)}ed frame ${String(p.ref).slice(0, 8)}${p.reason ? `: ${String(p.reason)}` : ''}`);
    else if (event === 'refused') this.log(`control upgrade from relay ${relay} refused: ${String(p.status)} ${String(p.why)}`);
    else if (event === 'invalid') this.log(`relay ${relay} sent an invalid frame: ${String(p.reason)}`);
    this.events.emit(event, payload);
  }

  async listen(): Promise<void> {
    const host = this.opts.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 0, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.address = this.server.address() as AddressInfo;
    this.admin = await startAdminApi(this, host, this.opts.adminPort ?? 0);
  }

  get url(): string {
    if (!this.address) throw new Error('DMS simulator not listening');
    const host = this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address;
    return `https://${host}:${this.address.port}`;
  }

  get adminUrl(): string {
    if (!this.admin) throw new Error('DMS simulator not listening');
    return this.admin.url;
  }

  get provisioningUrl(): string {
    return this.provisioningUrlValue ?? `${this.url}/provisioning/`;
  }

  set provisioningUrl(url: string) {
    this.provisioningUrlValue = url;
  }

  now(): number {
    return this.clock.now();
  }

  addRoutes(routes: readonly DmsRoute[]): void {
    this.routes.push(...routes);
  }

  /** The relay a request's bearer token belongs to, or null (for routes that check auth themselves). */
  authenticate(req: IncomingMessage): string | null {
    return this.relayBook.byToken(bearerToken(req))?.relayId ?? null;
  }

  setFaults(f: DmsFaults): ActiveFaults {
    applyFaults(this.faults, f);
    return { ...this.faults };
  }

  resetPin(tenantId: string, newPin: string): void {
    this.tenants.resetPin(tenantId, newPin);
    this.log(`tenant ${tenantId}: PIN reset (old PIN still valid for 24 h)`);
  }

  relays(): RelayView[] {
    return this.relayBook.all().map((r) => this.view(r));
  }

  relay(relayId: string): RelayView | undefined {
    const r = this.relayBook.get(relayId);
    return r ? this.view(r) : undefined;
  }

  /** Relay → DMS frames, each id once, in the order first received. */
  received(relayId: string, type?: string): ReceivedFrame[] {
    const all = this.relayBook.get(relayId)?.received ?? [];
    return type ? all.filter((f) => f.type === type) : [...all];
  }

  /** task.state and task.result frames received from a relay. */
  results(relayId: string): ReceivedFrame[] {
    return this.received(relayId).filter((f) => f.type === 'task.state' || f.type === 'task.result');
  }

  heartbeats(relayId: string): { at: number; body: Record<string, unknown> }[] {
    return [...(this.relayBook.get(relayId)?.heartbeats ?? [])];
  }

  /** The relay's answer ('ack' or 'nack: reason') to a frame we sent, if any yet. */
  answer(relayId: string, frameId: string): string | undefined {
    return this.relayBook.get(relayId)?.answers.get(frameId);
  }

  submitTask(relayId: string, task: TaskSpec): { taskId: string; frameId: string } {
    const taskId = task.taskId ?? randomUUID();
    const frame: Record<string, unknown> = {
      type: 'task.submit',
      taskId,
      name: task.name ?? task.command.kind,
      command: { kind: task.command.kind, args: task.command.args ?? {} },
      targets: task.targets,
    };
    if (task.executeAt) frame.executeAt = task.executeAt;
    if (task.expiresAt) frame.expiresAt = task.expiresAt;
    const frameId = this.control.send(relayId, frame);
    this.log(`task ${taskId} (${task.command.kind}) submitted to relay ${short(relayId)} as frame ${short(frameId)}`);
    return { taskId, frameId };
  }

  /** Queues any frame to the relay (id, v and ts filled in when absent); resent until answered. */
  sendFrame(relayId: string, frame: Record<string, unknown>): string {
    return this.control.send(relayId, frame);
  }

  /** Sends bytes verbatim, once (for malformed-frame tests). False when the relay is not connected. */
  sendRaw(relayId: string, data: string | Buffer, binary = false): boolean {
    return this.control.sendRaw(relayId, data, binary);
  }

  queueAction(relayId: string, action: string): void {
    this.relayBook.get(relayId)?.pendingActions.push(action);
  }

  /**
   * Invalidates the relay's token. By default the live control session stays up (the relay
   * finds out on its next call: 401); `closeSession` also closes it with 4003 as a DMS does
   * when it revokes a token actively.
   */
  revokeToken(relayId: string, opts: { closeSession?: boolean } = {}): void {
    this.relayBook.revokeToken(relayId);
    if (opts.closeSession) this.control.disconnect(relayId, 4003, 'token revoked');
  }

  connected(relayId: string): boolean {
    return this.control.connected(relayId);
  }

  goSilent(relayId: string): boolean {
    return this.control.goSilent(relayId);
  }

  disconnect(relayId: string, code?: number, reason?: string): boolean {
    return this.control.disconnect(relayId, code, reason);
  }

  async close(): Promise<void> {
    this.control.close();
    await this.admin?.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private view(r: SimRelay): RelayView {
    const last = r.heartbeats[r.heartbeats.length - 1];
    return {
      relayId: r.relayId,
      tenantId: r.tenantId,
      hostname: r.hostname,
      fqdn: r.fqdn,
      version: r.version,
      state: this.relayBook.state(r),
      registrations: r.registrations,
      lastHeartbeatAt: r.lastHeartbeatAt === undefined ? null : new Date(r.lastHeartbeatAt).toISOString(),
      heartbeats: r.heartbeats.length,
      lastHeartbeat: last?.body ?? null,
      connected: this.control.connected(r.relayId),
      runId: this.control.runId(r.relayId) ?? null,
      received: r.received.length,
      duplicates: r.duplicates,
      pendingToRelay: this.control.pendingCount(r.relayId),
    };
  }

  /** Who sent each request and upgrade (the newest PEER_LOG_MAX): tests tell a relay's own address from a forward proxy's. */
  peers(): readonly SeenRequest[] {
    return this.peerLog;
  }

  private notePeer(req: IncomingMessage): void {
    if (this.peerLog.length >= PEER_LOG_MAX) this.peerLog.shift();
    this.peerLog.push({ method: req.method ?? '?', path: (req.url ?? '/').split('?')[0]!, from: req.socket.remoteAddress ?? '?', upgrade: req.headers.upgrade !== undefined });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    this.notePeer(req);
    try {
      if (path === REGISTER_PATH && req.method === 'POST') return await this.register(req, res);
      const hb = HEARTBEAT_RE.exec(path);
      if (hb && req.method === 'POST') return await this.heartbeat(req, res, decodeURIComponent(hb[1]!));
      for (const route of this.routes) {
        if (route.method !== req.method && !(route.method === 'GET' && req.method === 'HEAD')) continue;
        const m = route.pattern.exec(path);
        if (!m) continue;
        const relayId = this.authenticate(req);
        if (route.auth && relayId === null) return sendJson(res, 401, { error: 'invalid_token' });
        return await route.handle(req, res, m, relayId);
      }
      sendJson(res, 404, { error: 'not_found', path });
    } catch (err) {
      if (err instanceof HttpProblem) return sendJson(res, err.status, { error: err.error, detail: err.detail });
      this.log(`internal error on ${req.method ?? '?'} ${path}: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) sendJson(res, 500, { error: 'internal' });
      else res.destroy();
    }
  }

  private canned(res: ServerResponse, key: 'register' | 'heartbeat'): boolean {
    const c = takeCanned(this.faults, key);
    if (!c) return false;
    const headers: Record<string, string> = c.retryAfterSeconds !== undefined ? { 'retry-after': String(c.retryAfterSeconds) } : {};
    sendJson(res, c.status, c.body ?? { error: `simulated_${c.status}` }, headers);
    return true;
  }

  private async register(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readJson(req, 64 * 1024);
    if (this.canned(res, 'register')) return;
    if (!isRecord(body)) throw new HttpProblem(400, 'bad_request', 'body must be a JSON object');
    const tenantId = str(body, 'tenantId')!;
    const pin = str(body, 'pin')!;
    const relayId = str(body, 'relayId', { nullable: true, optional: true }) ?? null;
    const info = { hostname: String(body.hostname ?? ''), fqdn: String(body.fqdn ?? ''), version: String(body.version ?? '') };
    if (!this.tenants.accepts(tenantId, pin)) {
      this.log(`registration refused for tenant ${tenantId}: invalid credentials`);
      this.emit('register-rejected', { tenantId, status: 401, error: 'invalid_credentials' });
      return sendJson(res, 401, { error: 'invalid_credentials' });
    }
    const relay = this.relayBook.register(tenantId, relayId, info, this.tokenTtlMs);
    const isNew = relay.registrations === 1;
    this.log(`relay ${short(relay.relayId)} (${info.hostname}) registered for tenant ${tenantId}${isNew ? ' (new relay id)' : ''}`);
    this.emit('registered', { relayId: relay.relayId, tenantId, isNew });
    const base = this.url;
    sendJson(res, 200, {
      relayId: relay.relayId,
      token: relay.token,
      tokenExpiresAt: new Date(relay.tokenExpiresAt).toISOString(),
      heartbeatIntervalSeconds: this.heartbeatIntervalSeconds,
      controlUrl: `${base.replace(/^https:/, 'wss:')}/api/v1/relays/${relay.relayId}/control`,
      provisioningUrl: this.provisioningUrl,
      site: this.site,
    });
  }

  private async heartbeat(req: IncomingMessage, res: ServerResponse, relayId: string): Promise<void> {
    const body = await readJson(req, 256 * 1024);
    const relay = this.relayBook.byToken(bearerToken(req));
    if (!relay || relay.relayId !== relayId) return sendJson(res, 401, { error: 'invalid_token' });
    if (this.canned(res, 'heartbeat')) return;
    if (!isRecord(body)) throw new HttpProblem(400, 'bad_request', 'body must be a JSON object');
    const at = this.clock.now();
    relay.lastHeartbeatAt = at;
    relay.heartbeats.push({ at, body });
    if (relay.heartbeats.length > 1000) relay.heartbeats.splice(0, relay.heartbeats.length - 1000);
    this.emit('heartbeat', { relayId, seq: body.seq, body });
    this.log(
      `heartbeat #${String(body.seq)} from relay ${short(relayId)} (control ${isRecord(body.control) && body.control.connected ? 'up' : 'down'}, outbox ${String(body.outboxDepth)})`,
    );
    const actions = relay.pendingActions.splice(0);
    sendJson(res, 200, { serverTime: new Date(at + this.faults.serverTimeOffsetMs).toISOString(), actions });
  }
}

function short(id: string): string {
  return id.slice(0, 8);
}

export async function startDmsSimulator(opts: DmsSimulatorOptions = {}): Promise<DmsSimulator> {
  const sim = new DmsSimulator(opts);
  await sim.listen();
  return sim;
}

function describeFrame(f: Record<string, unknown>): string {
  const keys = ['taskId', 'deviceId', 'state', 'outcome', 'reason', 'imageId'];
  return keys
    .filter((k) => f[k] !== undefined)
    .map((k) => `${k}=${typeof f[k] === 'string' ? f[k] : JSON.stringify(f[k])}`)
    .join(' ');
}
