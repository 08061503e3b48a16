import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCa, loopbackServerCert, type KeyedCert } from '../../sim/pki.js';
import type { DmsRoute } from '../../sim/dms/types.js';

/** Test PKI shared by the origins of one test file (RSA keys are slow to make). */
export function testPki(): { ca: KeyedCert; server: KeyedCert } {
  const ca = createCa();
  return { ca, server: loopbackServerCert(ca) };
}

export interface Origin {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closer(server: Server): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
}

/** A minimal HTTPS host for DmsRoute[] (one fixed token → relayId), for tests that need no full DMS. */
export async function startRouteOrigin(pki: { server: KeyedCert }, routes: readonly DmsRoute[], tokens: Record<string, string> = { 'tok-1': 'relay-1' }): Promise<Origin> {
  const server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const relayId = auth ? (tokens[auth[1] as string] ?? null) : null;
    for (const r of routes) {
      if (r.method !== req.method) continue;
      const m = r.pattern.exec(path);
      if (!m) continue;
      if (r.auth && relayId === null) {
        res.writeHead(401).end();
        return;
      }
      void Promise.resolve(r.handle(req, res, m, relayId)).catch(() => res.destroy());
      return;
    }
    res.writeHead(404).end();
  });
  const url = await listen(server);
  return { url, server, close: closer(server) };
}

export interface ProvisioningOrigin extends Origin {
  /** GET/HEAD requests per path (credential checks and fills both count). */
  readonly hits: Map<string, number>;
  /** Full-body GETs (no Range: bytes=0-0) per path: the fills. */
  readonly fills: Map<string, number>;
}

/**
 * A stand-in for the DMS tenant provisioning server: Basic auth for the given users on every
 * path, files served with single-range support.
 */
export async function startProvisioningOrigin(pki: { server: KeyedCert }, users: Record<string, string>, files: Map<string, Buffer>): Promise<ProvisioningOrigin> {
  const hits = new Map<string, number>();
  const fills = new Map<string, number>();
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/').replace(/^\/provisioning/, '');
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const m = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    const [user, pass] = m
      ? Buffer.from(m[1] as string, 'base64')
          .toString('utf8')
          .split(':')
      : [];
    if (user === undefined || users[user] !== pass) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="provisioning"' }).end();
      return;
    }
    const body = files.get(path);
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    const r = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (r) {
      const start = Number(r[1]);
      const end = r[2] === '' ? body.length - 1 : Math.min(Number(r[2]), body.length - 1);
      res.writeHead(206, { 'Content-Length': String(end - start + 1), 'Content-Range': `bytes ${start}-${end}/${body.length}` });
      res.end(req.method === 'HEAD' ? undefined : body.subarray(start, end + 1));
      return;
    }
    if (req.method === 'GET') fills.set(path, (fills.get(path) ?? 0) + 1);
    res.writeHead(200, { 'Content-Length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  const server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, handler);
  const url = await listen(server);
  return { url, server, hits, fills, close: closer(server) };
}

export function basic(user: string, pass: string): string {
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}
