import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'node:events';
import { createCa, loopbackServerCert, type KeyedCert } from '../pki.js';
import { DEFAULT_ACCOUNT, defaultFiles } from './files.js';

export interface ProvisioningSimOptions {
  /** Sign the server certificate with this CA (e.g. the DMS simulator's, so one CA file covers both). */
  readonly ca?: KeyedCert;
  readonly host?: string;
  readonly port?: number;
  /** Path prefix of the provisioning URL (default '/prov/t-4711/'), kept by the relay. */
  readonly prefix?: string;
  /** The tenant's provisioning account phones use (Basic auth). */
  readonly account?: { readonly user: string; readonly password: string };
  /** Phones with their own `{mac}.cfg`. */
  readonly macs?: readonly string[];
  /** Keep at most this many request log entries (oldest dropped). */
  readonly maxLog?: number;
}

export interface ProvRequest {
  readonly method: string;
  /** Path below the prefix, e.g. '/000000000000.cfg'. */
  readonly path: string;
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly bytesIn: number;
  /** The connecting peer's address (a forward proxy's, when the relay tunnels through one). */
  readonly from: string;
}

/** Fault injection per path (below the prefix). */
export interface PathBehaviour {
  /** Wait this long before answering (for upstream timeouts). */
  readonly delayMs?: number;
  /** Send the body in chunks of this size every `intervalMs` (slow downloads). */
  readonly chunkBytes?: number;
  readonly intervalMs?: number;
}

const UPLOADABLE = /^\/[0-9a-f]{12}-(?:app\.log|boot\.log|phone\.cfg|web\.cfg|directory\.xml|calls\.xml|license\.cfg)$/;
const MAX_KEPT_UPLOAD = 4 * 1024 * 1024;

/**
 * The tenant provisioning server a DMS hands out as `provisioningUrl`: serves the master
 * config and the files it names, takes the files phones upload (PUT), checks Basic auth,
 * and logs every request so tests can see exactly what reached it (and what did not).
 */
export class ProvisioningSimulator {
  readonly ca: KeyedCert;
  readonly files: Map<string, Buffer>;
  readonly uploads = new Map<string, Buffer>();
  readonly requests: ProvRequest[] = [];
  readonly events = new EventEmitter();
  readonly prefix: string;
  private readonly behaviours = new Map<string, PathBehaviour>();
  private readonly server: Server;
  private readonly authValue: string;
  private readonly maxLog: number;
  private address: AddressInfo | undefined;

  constructor(private readonly opts: ProvisioningSimOptions = {}) {
    this.ca = opts.ca ?? createCa('provisioning simulator CA');
    const leaf = loopbackServerCert(this.ca, 'localhost');
    this.prefix = opts.prefix ?? '/prov/t-4711/';
    const account = opts.account ?? DEFAULT_ACCOUNT;
    this.authValue = `Basic ${Buffer.from(`${account.user}:${account.password}`).toString('base64')}`;
    this.files = defaultFiles(opts.macs ?? []);
    this.maxLog = opts.maxLog ?? 10_000;
    this.server = createServer({ key: leaf.keyPem, cert: leaf.certPem, keepAliveTimeout: 60_000 }, (req, res) => this.handle(req, res));
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    this.address = this.server.address() as AddressInfo;
    return this;
  }

  /** The provisioningUrl to hand out (ends in '/'). */
  get url(): string {
    if (!this.address) throw new Error('provisioning simulator not listening');
    return `https://${this.address.address}:${this.address.port}${this.prefix}`;
  }

  setFile(name: string, body: string | Buffer): void {
    this.files.set(name.replace(/^\//, ''), typeof body === 'string' ? Buffer.from(body) : body);
  }

  behave(path: string, b: PathBehaviour | undefined): void {
    if (b) this.behaviours.set(path, b);
    else this.behaviours.delete(path);
  }

  /** Requests whose path (below the prefix) matches. */
  seen(path: string): ProvRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** Lets the process exit while the simulator still serves (the demo leaves it running). */
  unref(): void {
    this.server.unref();
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private record(req: IncomingMessage, path: string, status: number, bytesIn: number): void {
    if (this.requests.length >= this.maxLog) this.requests.shift();
    const entry: ProvRequest = { method: req.method ?? '?', path, status, headers: req.headers, bytesIn, from: req.socket.remoteAddress ?? '?' };
    this.requests.push(entry);
    this.events.emit('request', entry);
  }

  private reply(req: IncomingMessage, res: ServerResponse, path: string, status: number, body: string, bytesIn = 0, extra: Record<string, string> = {}): void {
    this.record(req, path, status, bytesIn);
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), ...extra });
    res.end(body);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const rawPath = url.split('?')[0]!;
    if (!rawPath.startsWith(this.prefix)) return this.reply(req, res, rawPath, 404, 'not under the provisioning prefix\n');
    const path = '/' + decodeURIComponent(rawPath.slice(this.prefix.length));
    if (req.headers.authorization !== this.authValue) {
      req.resume();
      return this.reply(req, res, path, 401, 'authentication required\n', 0, { 'www-authenticate': 'Basic realm="provisioning"' });
    }
    const b = this.behaviours.get(path);
    const go = () => {
      if (req.method === 'PUT' || req.method === 'POST') return this.upload(req, res, path);
      if (req.method === 'GET' || req.method === 'HEAD') return this.download(req, res, path, b);
      if (req.method === 'DELETE') {
        const existed = this.uploads.delete(path.slice(1));
        return this.reply(req, res, path, existed ? 204 : 404, '');
      }
      return this.reply(req, res, path, 405, 'method not allowed\n');
    };
    if (b?.delayMs) setTimeout(go, b.delayMs).unref();
    else go();
  }

  private download(req: IncomingMessage, res: ServerResponse, path: string, b: PathBehaviour | undefined): void {
    const name = path.slice(1);
    const body = this.files.get(name) ?? this.uploads.get(name);
    if (!body) return this.reply(req, res, path, 404, 'no such file\n');
    this.record(req, path, 200, 0);
    const type = name.endsWith('.cfg') || name.endsWith('.xml') ? 'application/xml' : name.endsWith('.log') ? 'text/plain' : 'application/octet-stream';
    res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'cache-control': 'no-store' });
    if (req.method === 'HEAD') return void res.end();
    if (!b?.chunkBytes) return void res.end(body);
    let off = 0;
    const step = b.chunkBytes;
    const timer = setInterval(() => {
      if (res.destroyed) return clearInterval(timer);
      res.write(body.subarray(off, off + step));
      off += step;
      if (off >= body.length) {
        clearInterval(timer);
        res.end();
      }
    }, b.intervalMs ?? 10);
  }

  private upload(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (!UPLOADABLE.test(path)) {
      req.resume();
      return this.reply(req, res, path, 403, 'uploads are accepted only for phone log and override files\n');
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      if (bytes <= MAX_KEPT_UPLOAD) chunks.push(c);
    });
    req.on('end', () => {
      const name = path.slice(1);
      const existed = this.uploads.has(name);
      this.uploads.set(name, Buffer.concat(chunks));
      this.reply(req, res, path, existed ? 204 : 201, '', bytes);
      this.events.emit('upload', { name, bytes });
    });
    req.on('error', () => res.destroy());
  }
}

export async function startProvisioningSimulator(opts: ProvisioningSimOptions = {}): Promise<ProvisioningSimulator> {
  return new ProvisioningSimulator(opts).listen();
}
