import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { ListenAddress } from '../config/listen.js';
import type { ReadinessCheck } from '../core/readiness.js';
import { evaluate } from './health.js';
import { timeouts } from '../core/timeouts.js';

export type AdminRoute = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * The operator-facing port: health, readiness, metrics, the status document the CLI
 * reads and the HTML status page (`/`). Bound to localhost by default; it never serves phones.
 */
export class AdminServer {
  private readonly server: Server;
  private readonly routes = new Map<string, AdminRoute>();
  private readonly checks: ReadinessCheck[] = [];

  constructor(private readonly log: Logger) {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = timeouts.adminIdle.ms;
    this.route('/healthz', (_req, res) => sendJson(res, 200, { status: 'ok' }));
    this.route('/readyz', (_req, res) => {
      const report = evaluate(this.checks);
      sendJson(res, report.ready ? 200 : 503, report);
    });
  }

  route(path: string, handler: AdminRoute): void {
    this.routes.set(path, handler);
  }

  addCheck(check: ReadinessCheck): void {
    this.checks.push(check);
  }

  readiness() {
    return evaluate(this.checks);
  }

  async listen(addr: ListenAddress): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(addr.port, addr.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = this.routes.get(path);
    if (!route) return sendJson(res, 404, { error: 'not_found', path });
    // Read-only port: nothing here changes state, whatever the method.
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return sendJson(res, 405, { error: 'method_not_allowed' });
    }
    try {
      await route(req, res);
    } catch (err) {
      this.log.error({ err, path }, 'admin route failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal_error' });
      else res.destroy();
    }
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
